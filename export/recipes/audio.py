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
        "do_lower_case": bool(getattr(tok, "do_lower_case", False))}}}


recipe(Recipe(
    task="automatic-speech-recognition",
    auto_class="AutoModelForCTC",
    references=("wav2vec2-tiny-ctc",),
    graphs=_graph(sequence_logits=True),
    manifest=_ctc_manifest,
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
))
