"""Small seeded audio reference models: Wav2Vec2 (classification, CTC) and Whisper."""
from __future__ import annotations

import json
from pathlib import Path


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


def wav2vec2_tiny_classifier(out: Path, seed: int) -> None:
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    cfg = tiny_wav2vec2_config(id2label=SPEECH_LABELS, label2id={v: k for k, v in SPEECH_LABELS.items()},
                               classifier_proj_size=16)
    Wav2Vec2ForSequenceClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    _feature_extractor(out)


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


WHISPER_SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>",
                   "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def train_whisper_tokenizer(out: Path) -> None:
    """Byte-level BPE plus Whisper's special tokens (no timestamp tokens: timestamps are not exported)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import WhisperTokenizerFast

    from .corpus import sentences

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(sentences(), trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in WHISPER_SPECIAL[1:]])
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    WhisperTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), model_max_length=64).save_pretrained(str(out))


def whisper_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import AutoTokenizer, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    train_whisper_tokenizer(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    ids = {t: tok.convert_tokens_to_ids(t) for t in WHISPER_SPECIAL}
    eos = ids["<|endoftext|>"]
    torch.manual_seed(seed)
    cfg = WhisperConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
                        max_source_positions=1500, max_target_positions=64, init_std=0.2,
                        pad_token_id=eos, bos_token_id=eos, eos_token_id=eos,
                        decoder_start_token_id=ids["<|startoftranscript|>"], suppress_tokens=[],
                        begin_suppress_tokens=[eos])
    model = WhisperForConditionalGeneration(cfg).eval()
    gc = model.generation_config
    gc.decoder_start_token_id = ids["<|startoftranscript|>"]
    gc.eos_token_id = gc.pad_token_id = eos
    gc.lang_to_id = {"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]}
    gc.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gc.no_timestamps_token_id = ids["<|notimestamps|>"]
    gc.is_multilingual = True
    gc.forced_decoder_ids = None
    gc.suppress_tokens = []
    gc.begin_suppress_tokens = [eos]
    gc.max_length = 64
    gc._from_model_config = False  # else generate() rebuilds it from config.json and drops lang_to_id
    model.save_pretrained(str(out), safe_serialization=True)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(out))


def whisper_tiny_classifier(out: Path, seed: int) -> None:
    """A tiny WhisperForAudioClassification with a 1-second WhisperFeatureExtractor window (100 frames)."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(seed)
    cfg = WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=40,
                        max_source_positions=50, classifier_proj_size=16, init_std=0.2,
                        id2label=SPEECH_LABELS, label2id={v: k for k, v in SPEECH_LABELS.items()})
    WhisperForAudioClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    WhisperFeatureExtractor(feature_size=40, chunk_length=1).save_pretrained(str(out))


def moonshine_tiny(out: Path, seed: int) -> None:
    """A tiny MoonshineForConditionalGeneration: raw 16 kHz samples (Wav2Vec2FeatureExtractor, as Moonshine's
    checkpoints ship) into the conv encoder, a byte-level BPE tokenizer with <s> / </s>."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (MoonshineConfig, MoonshineForConditionalGeneration, PreTrainedTokenizerFast,
                              Wav2Vec2FeatureExtractor)

    from .corpus import sentences

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    out.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   model_max_length=64)
    fast.save_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = MoonshineConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, encoder_num_hidden_layers=1,
                          decoder_num_hidden_layers=2, encoder_num_attention_heads=2, decoder_num_attention_heads=2,
                          max_position_embeddings=64, initializer_range=0.2, decoder_start_token_id=1,
                          bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = MoonshineForConditionalGeneration(cfg).eval()
    model.generation_config.max_length = 12
    model.save_pretrained(str(out), safe_serialization=True)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=False,
                             return_attention_mask=True).save_pretrained(str(out))


def speech2text_tiny(out: Path, seed: int) -> None:
    """A tiny Speech2TextForConditionalGeneration with its Speech2TextFeatureExtractor (40 Kaldi mel bins) and,
    like every published checkpoint, a SentencePiece-only Speech2TextTokenizer (fairseq's ids: <s> <pad> </s>
    <unk> first; do_upper_case as the LibriSpeech checkpoints), trained here on the corpus (SentencePiece's
    trainer is deterministic with one thread)."""
    import io

    import sentencepiece as spm
    import torch
    from transformers import (Speech2TextConfig, Speech2TextFeatureExtractor, Speech2TextForConditionalGeneration,
                              Speech2TextTokenizer)

    from .corpus import sentences

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences()), model_writer=model, vocab_size=160,
                                   model_type="unigram", bos_id=0, pad_id=1, eos_id=2, unk_id=3, num_threads=1,
                                   minloglevel=2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    (out / "vocab.json").write_text(json.dumps({sp.IdToPiece(i): i for i in range(sp.GetPieceSize())}), encoding="utf-8")
    tok = Speech2TextTokenizer(str(out / "vocab.json"), str(out / "sentencepiece.bpe.model"), do_upper_case=True,
                                model_max_length=64)
    tok.save_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = Speech2TextConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                            conv_channels=32, input_feat_per_channel=40, max_source_positions=300,
                            max_target_positions=64, init_std=0.2, max_length=12)
    Speech2TextForConditionalGeneration(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    Speech2TextFeatureExtractor(feature_size=40, num_mel_bins=40).save_pretrained(str(out))
