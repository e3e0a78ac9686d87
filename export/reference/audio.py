"""Small seeded audio reference models: Wav2Vec2 (classification, CTC) and Whisper."""
from __future__ import annotations

import json
from pathlib import Path

from . import reference

SPEECH_LABELS = {0: "yes", 1: "no", 2: "up", 3: "down"}
CTC_CHARS = list("abcdefghijklmnopqrstuvwxyz'")


def tiny_wav2vec2_config(**overrides):
    from transformers import Wav2Vec2Config

    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
                initializer_range=0.2, apply_spec_augment=False, mask_time_prob=0.0)
    base.update(overrides)
    return Wav2Vec2Config(**base)


def _feature_extractor(out: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(str(out))


@reference("wav2vec2-tiny-classifier", task="audio-classification")
def wav2vec2_tiny_classifier(out: Path, seed: int) -> None:
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    cfg = tiny_wav2vec2_config(id2label=SPEECH_LABELS, label2id={v: k for k, v in SPEECH_LABELS.items()},
                               classifier_proj_size=16)
    Wav2Vec2ForSequenceClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    _feature_extractor(out)


@reference("wav2vec2-tiny-ctc", task="automatic-speech-recognition")
def wav2vec2_tiny_ctc(out: Path, seed: int) -> None:
    import torch
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    vocab.update({c: i + 5 for i, c in enumerate(CTC_CHARS)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tok = Wav2Vec2CTCTokenizer(str(out / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
    tok.save_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = tiny_wav2vec2_config(vocab_size=len(vocab), pad_token_id=0, ctc_loss_reduction="mean")
    Wav2Vec2ForCTC(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    _feature_extractor(out)
