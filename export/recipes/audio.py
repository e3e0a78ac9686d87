"""Export recipes of the audio tasks (Wav2Vec2 encoders; traced with TorchScript)."""
from __future__ import annotations

import json
import shutil

import numpy as np

from . import Recipe, Sample, recipe
from ..graphs import GraphExport, NamedIO
from .text_common import labels


def feature_config(source) -> dict:
    return json.loads((source.path / "preprocessor_config.json").read_text(encoding="utf-8"))


def _graph(sequence_logits: bool):
    def build(source, opts):
        import torch

        names = ["input_values", "attention_mask"] if feature_config(source).get("return_attention_mask") else ["input_values"]
        x = {"input_values": torch.randn(2, 16000), "attention_mask": torch.ones(2, 16000, dtype=torch.int64)}
        x = {n: x[n] for n in names}
        axes = {n: {0: "batch", 1: "samples"} for n in names}
        axes["logits"] = {0: "batch", 1: "frames"} if sequence_logits else {0: "batch"}
        return [GraphExport("model", NamedIO(source.model, names, lambda o: (o.logits,)), x, ["logits"], axes)]
    return build


def sample_audio() -> list[np.ndarray]:
    """A chirp, a tone with noise and a short burst: deterministic, 16 kHz."""
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    chirp = np.sin(2 * np.pi * (200 + 1800 * t) * t)
    tone = 0.5 * np.sin(2 * np.pi * 440 * t[:12000]) + 0.05 * rng.standard_normal(12000)
    return [chirp.astype(np.float32), tone.astype(np.float32), (0.3 * rng.standard_normal(3200)).astype(np.float32)]


def _copy_features(source, staging) -> list[str]:
    shutil.copyfile(source.path / "preprocessor_config.json", staging / "preprocessor_config.json")
    return ["preprocessor_config.json"]


recipe(Recipe(
    task="audio-classification",
    auto_class="AutoModelForAudioClassification",
    references=("wav2vec2-tiny-classifier",),
    graphs=_graph(sequence_logits=False),
    manifest=lambda source: {"processing": {"audio": feature_config(source)}, "labels": labels(source.config)},
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
))


def _ctc_manifest(source) -> dict:
    tok = source.tokenizer()
    return {"processing": {"audio": feature_config(source), "ctc": {
        "id2token": {str(i): t for t, i in tok.get_vocab().items()}, "pad_token": tok.pad_token,
        "word_delimiter_token": getattr(tok, "word_delimiter_token", "|"),
        "do_lower_case": bool(getattr(tok, "do_lower_case", False)),
        "replace_word_delimiter_char": getattr(tok, "replace_word_delimiter_char", " "),
        # samples per logits frame: timestamps and chunk strides are counted in it
        "inputs_to_logits_ratio": int(getattr(source.config, "inputs_to_logits_ratio", 0) or 0)}}}


def _is_whisper(source) -> bool:
    return getattr(source.config, "model_type", "") == "whisper"


def _asr_graphs(source, opts):
    if not _is_whisper(source):
        return _graph(sequence_logits=True)(source, opts)
    import torch

    from ..graphs_generation import seq2seq_graphs

    mels = feature_config(source).get("feature_size", 80)
    x = {"input_features": torch.randn(2, mels, 3000)}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {"input_features": {0: "batch"}}, int(start), uses_mask=False)


def _asr_manifest(source) -> dict:
    if not _is_whisper(source):
        return _ctc_manifest(source)
    from .generation import _manifest as generation_manifest

    m = generation_manifest("encoder-decoder")(source)
    m["processing"]["audio"] = feature_config(source)
    m["processing"]["whisper"] = True
    return m


def _asr_samples(source):
    if not _is_whisper(source):
        return [Sample([a]) for a in sample_audio()]
    return [Sample([sample_audio()[0]], {"generate_kwargs": {"language": "en", "max_new_tokens": 8}}),
            Sample([sample_audio()[1]], {"generate_kwargs": {"max_new_tokens": 6}})]


def _asr_files(source, staging) -> list[str]:
    from .text_common import write_tokenizer

    return _copy_features(source, staging) + (write_tokenizer(source, staging) if _is_whisper(source) else [])


recipe(Recipe(
    task="automatic-speech-recognition",
    auto_class=lambda config: "AutoModelForSpeechSeq2Seq" if config.model_type == "whisper" else "AutoModelForCTC",
    references=("wav2vec2-tiny-ctc", "whisper-tiny-random"),
    graphs=_asr_graphs,
    manifest=_asr_manifest,
    samples=_asr_samples,
    files=_asr_files,
))
