"""The golden files of tests/golden_data/ (written once by make_golden.py from transformers 4.57) and the
stand-ins that let the golden tests drive edgetool's pipelines without a bundle.

NumPy and the runtime only: the golden tests must pass where torch and transformers are not installed
(tests/runtime/test_golden_no_torch.py runs them with those imports blocked).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "golden_data"

# The golden test modules; test_golden_no_torch.py runs exactly these with torch blocked.
GOLDEN_TEST_FILES = (
    "tests/runtime/test_image_processors_golden.py",
    "tests/runtime/test_audio_features_golden.py",
    "tests/runtime/test_text_tokenizer_golden.py",
    "tests/runtime/test_ctc_golden.py",
    "tests/runtime/test_nms_golden.py",
    "tests/runtime/test_spans_golden.py",
    "tests/runtime/test_windows_golden.py",
)


@lru_cache(maxsize=None)
def golden_json(name: str) -> Any:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def golden_arrays(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def from_pcm16(x: np.ndarray) -> np.ndarray:
    """Golden waveforms are stored as int16; int16 / 32768 is exact in float32 (make_golden.from_pcm16)."""
    return x.astype(np.float32) / np.float32(32768)


# -- driving a pipeline without a bundle -----------------------------------------------------------------
class GoldenBundle:
    """What a pipeline's setup() reads from a bundle: task, family, processing, labels and named files.
    (Pipelines are built from a bundle today; this is the smallest stand-in for one.)"""

    def __init__(self, task: str, family: str, processing: dict, id2label: dict[int, str] | None = None,
                 files: dict[str, Path] | None = None):
        self.task, self.family, self.processing = task, family, processing
        self.id2label = id2label or {}
        self.files = files or {}
        self.generation = None

    def file(self, rel: str, verify: bool = True) -> Path:
        return self.files[rel]


class StandInEngine:
    """An engine whose outputs are a function of its feeds (the golden stand-in for the network)."""

    name = "stand-in"

    def __init__(self, fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]):
        self.fn = fn

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.fn(feeds)


def golden_pipeline(task: str, family: str, processing: dict, engine: StandInEngine,
                    id2label: dict[int, str] | None = None, files: dict[str, Path] | None = None):
    """The task's runtime pipeline class (from the task registry) for `family`'s head, on a GoldenBundle and
    one stand-in engine."""
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.tasks import get_task

    cls = pipeline_class(get_task(task))
    return cls(GoldenBundle(task, family, processing, id2label, files), engines={"model": engine})


def token_table_engine(tables: dict[str, np.ndarray]) -> StandInEngine:
    """Outputs looked up per input id: {output name: table [vocab, ...]} (make_golden's text stand-ins)."""
    return StandInEngine(lambda feeds: {k: t[feeds["input_ids"]] for k, t in tables.items()})


def conv_frames(n: int, kernels: list[int], strides: list[int]) -> int:
    """Wav2Vec2's _get_feat_extract_output_lengths: frames of logits for n input samples."""
    for k, s in zip(kernels, strides):
        n = (n - k) // s + 1
    return n


def ctc_stand_in_engine(buckets: list[int], vocab: int, kernels: list[int], strides: list[int]) -> StandInEngine:
    """make_golden.ctc_stand_in_logits: frame f covers samples [320 f, 320 f + 400); the bucket (of 25) of its
    largest sample names the token (logit 8, others 0)."""

    def run(feeds):
        x = feeds["input_values"]
        frames = conv_frames(x.shape[-1], kernels, strides)
        logits = np.zeros((x.shape[0], frames, vocab), np.float32)
        for b in range(x.shape[0]):
            for f in range(frames):
                logits[b, f, buckets[int(np.argmax(x[b, 320 * f:320 * f + 400])) // 25]] = 8.0
        return {"logits": logits}

    return StandInEngine(run)
