"""Audio real-time factor (audio seconds per compute second, higher is faster), batch 1, median of N
interleaved runs on one clip (tiny reference models, random weights), one thread everywhere:

- audio-classification (Wav2Vec2) and CTC ASR (Wav2Vec2ForCTC): edgetool runtime (ONNX Runtime, OpenVINO)
  vs transformers.pipeline on the same weights; CTC also chunked (chunk_length_s=10) on a longer clip;
- Whisper: edgetool runtime vs transformers `generate` (feature extractor + generate + decode), greedy,
  language "en", a fixed number of new tokens.

    .venv/bin/python benchmarks/audio.py [--runs 10] [--seconds 10]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from timing import interleaved


def median_seconds(groups: dict, runs: int) -> dict:
    return {k: ms / 1e3 for k, ms in interleaved(groups, runs, warmup=2).items()}


def clip(seconds: float) -> np.ndarray:
    from edgetool.export.families.audio import sample_audio

    rng = np.random.default_rng(0)
    x = np.resize(np.concatenate(sample_audio()), int(seconds * 16000))
    return (x + 0.02 * rng.standard_normal(x.size)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    import torch
    from transformers import (WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast,
                              pipeline as hf_pipeline)

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.export.reference import checkpoint_dir
    from edgetool.runtime import pipeline
    from edgetool.runtime.backends import BackendOptions

    torch.set_num_threads(1)
    opts = BackendOptions(threads=1)
    work = Path(tempfile.mkdtemp(prefix="edgetool-audiobench-"))
    x, long = clip(args.seconds), clip(6 * args.seconds)

    @__import__("functools").lru_cache(None)
    def bundle(task, ref):
        return export(ExportOptions(task=task, reference=ref, target="openvino", out=work / ref, quiet=True))

    rows = []
    for task, ref, kw, audio in [("audio-classification", "wav2vec2-tiny-classifier", {}, x),
                                 ("automatic-speech-recognition", "wav2vec2-tiny-ctc", {}, x),
                                 ("automatic-speech-recognition", "wav2vec2-tiny-ctc", {"chunk_length_s": 10.0}, long)]:
        b = bundle(task, ref)
        hf = hf_pipeline(task, model=str(checkpoint_dir(ref)))
        groups = {"transformers pipeline": lambda hf=hf, a=audio, kw=kw: hf(a, **kw)}
        for be in ("onnxruntime", "openvino"):
            p = pipeline(b, backend=be, options=opts)
            groups[f"edgetool {be}"] = lambda p=p, a=audio, kw=kw: p(a, **kw)
        label = ref + (" chunked 10 s" if kw else "")
        rows += [(label, len(audio) / 16000, k, t) for k, t in median_seconds(groups, args.runs).items()]

    ref = "whisper-tiny-random"
    b = bundle("automatic-speech-recognition", ref)
    path = str(checkpoint_dir(ref))
    model = WhisperForConditionalGeneration.from_pretrained(path).eval()
    fe, tok = WhisperFeatureExtractor.from_pretrained(path), WhisperTokenizerFast.from_pretrained(path)
    gen = {"max_new_tokens": 16, "language": "en"}

    def torch_whisper(a=x):
        with torch.no_grad():
            ids = model.generate(fe(a, sampling_rate=16000, return_tensors="pt").input_features, **gen)
        return tok.decode(ids[0], skip_special_tokens=True)

    groups = {"transformers generate": torch_whisper}
    for be in ("onnxruntime", "openvino"):
        p = pipeline(b, backend=be, options=opts)
        groups[f"edgetool {be}"] = lambda p=p: p(x, generate_kwargs=gen)
    rows += [(ref + " (16 new tokens)", len(x) / 16000, k, t) for k, t in median_seconds(groups, args.runs).items()]

    print("| model | audio s | engine | median s | real-time factor |\n|---|---|---|---|---|")
    for label, secs, k, t in rows:
        print(f"| {label} | {secs:g} | {k} | {t:.4f} | {secs / t:.0f}x |")


if __name__ == "__main__":
    main()
