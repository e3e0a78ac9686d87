"""CTC speech recognition beyond plain transcripts, vs the transformers ASR pipeline on the same weights:
return_timestamps="char"|"word" (chunks with (start, end) seconds) and chunk_length_s / stride_length_s
chunking of long audio (stitched text and timestamps), on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

BACKENDS = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module")
def hf_ctc(reference_dir):
    from transformers import pipeline as hf_pipeline

    return hf_pipeline("automatic-speech-recognition", model=str(reference_dir("wav2vec2-tiny-ctc")))


def long_audio(seconds: float = 6.0) -> np.ndarray:
    """Sample sounds repeated with varying gain plus a little noise: deterministic, 16 kHz. (Exact repeats
    of one clip gave a random-weight logit tie, 2e-7 apart, that backends break differently.)"""
    clips = sample_audio()
    out, i = [], 0
    while sum(map(len, out)) < seconds * 16000:
        out.append(clips[i % 3] * (0.5 + 0.1 * (i % 5)))
        i += 1
    x = np.concatenate(out)[:int(seconds * 16000)]
    return (x + 0.02 * np.random.default_rng(1).standard_normal(x.size)).astype(np.float32)


def _same(ours: dict, ref: dict) -> None:
    assert ours["text"] == ref["text"]
    if "chunks" in ref:
        assert [c["text"] for c in ours["chunks"]] == [c["text"] for c in ref["chunks"]]
        got = np.array([c["timestamp"] for c in ours["chunks"]], float).reshape(-1, 2)
        want = np.array([c["timestamp"] for c in ref["chunks"]], float).reshape(-1, 2)
        assert np.array_equal(got, want)
        assert all(isinstance(c["timestamp"], tuple) for c in ours["chunks"])
    assert set(ours) == set(ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["char", "word"])
def test_ctc_timestamps_match_pipeline(bundle_dir, hf_ctc, backend, kind):
    ours = pipeline(bundle_dir("automatic-speech-recognition", target="openvino"), backend=backend)
    n_chunks = 0
    for a in sample_audio():
        ref = hf_ctc(a, return_timestamps=kind)
        _same(ours(a, return_timestamps=kind), ref)
        n_chunks += len(ref["chunks"])
    assert n_chunks > 0  # the random model does emit characters: the comparison is not vacuous


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk,stride", [(1.0, None), (1.5, 0.25), (2.0, (0.5, 0.1))])
def test_ctc_chunked_long_audio_matches_pipeline(bundle_dir, hf_ctc, backend, chunk, stride):
    ours = pipeline(bundle_dir("automatic-speech-recognition", target="openvino"), backend=backend)
    audio = long_audio()
    kw = {"chunk_length_s": chunk} | ({} if stride is None else {"stride_length_s": stride})
    ref = hf_ctc(audio, **kw)
    assert ref["text"]
    _same(ours(audio, **kw), ref)
    for kind in ("char", "word"):
        _same(ours(audio, return_timestamps=kind, **kw), hf_ctc(audio, return_timestamps=kind, **kw))


def test_ctc_chunking_short_audio_and_bad_options(bundle_dir, hf_ctc):
    ours = pipeline(bundle_dir("automatic-speech-recognition"))
    a = sample_audio()[2]  # 0.2 s: shorter than one chunk
    _same(ours(a, chunk_length_s=1.0), hf_ctc(a, chunk_length_s=1.0))
    with pytest.raises(UsageError, match="longer than both strides"):
        ours(a, chunk_length_s=1.0, stride_length_s=0.5)
    with pytest.raises(UsageError, match='"char" or "word"'):
        ours(a, return_timestamps="phoneme")


def _traced_peak(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_long_audio_chunked_in_bounded_memory(bundle_dir):
    """Chunked CTC holds one chunk's features / logits at a time: the Python-side peak (tracemalloc sees
    NumPy's and the engine outputs' buffers) grows from 30 s to 2 minutes by under 1 byte per extra sample
    (the transcript's per-frame bookkeeping; one float32 copy of the input would be 4), so an hour costs
    one chunk's features plus its transcript, not the audio length in features (timestamps are left out: their dicts grow with the
    transcript, as the output itself does)."""
    ours = pipeline(bundle_dir("automatic-speech-recognition"))
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(120 * 16000)).astype(np.float32)
    ours(audio[:16000], chunk_length_s=1.0)  # warm up (session, caches)
    out = {}
    short = _traced_peak(lambda: ours(audio[:30 * 16000], chunk_length_s=10.0))
    full = _traced_peak(lambda: out.update(ours(audio, chunk_length_s=10.0)))
    assert len(out["text"]) > 1000
    assert full - short < 90 * 16000, f"peak {full / 1e6:.1f} MB for 120 s vs {short / 1e6:.1f} MB for 30 s"
