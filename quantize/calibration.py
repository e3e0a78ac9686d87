"""Calibration data: user files (or a small built-in demo set) run through the bundle's OWN pipeline.

The inputs are turned into pipeline calls (text lines, decoded images, 16 kHz waveforms), the runtime
pipeline runs them on the fp32 ONNX artifacts, and every engine call it makes is recorded. Those feeds
are the calibration data of each graph — so calibration sees exactly the pre-processing (tokenizer,
image resize/normalise, audio features, generation steps) the device will apply, for every task,
without task-specific code here.

Loaders form a registry keyed by the task's `input_kind` (text | image | audio) in the task registry;
a new modality adds a loader, a new task adds nothing (unless its pipeline's call signature is unusual:
see edgetool/check/inputs.py SAMPLE_ADAPTERS, shared with `validate --inputs`).

The contract for targets: `Target.build(..., calibration=CalibrationSet)` reads
`calibration.feeds(graph)` -> list of {input name: array}, one per recorded engine call.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.check.golden import Sample
from edgetool.check.inputs import SAMPLE_ADAPTERS  # the same per-task adapters as `validate --inputs`

MIN_STATIC_SAMPLES = 100  # below this, INT8 ranges are unreliable (Ultralytics' 8-image INT8 lost half its mAP)
DEFAULT_CALIBRATION_SIZE = 128
DEFAULT_HELD_OUT = 16  # extra evaluation samples for the accuracy report, never used for calibration
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".wave"}
TEXT_SUFFIXES = {".txt", ".text", ".csv", ".tsv", ".jsonl"}


@dataclass
class RawSet:
    """Calibration inputs before the pipeline: values (str / HxWx3 uint8 / float32 wave) with names."""

    kind: str
    source: str  # a path, or "builtin:<kind>"
    items: list[Any]
    names: list[str]
    digests: list[str]  # sha256 of each item's bytes, for the set's hash

    def take(self, start: int, stop: int | None) -> "RawSet":
        return RawSet(self.kind, self.source, self.items[start:stop], self.names[start:stop], self.digests[start:stop])

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for d in self.digests:
            h.update(bytes.fromhex(d))
        return h.hexdigest()


@dataclass
class CalibrationSet:
    """What targets receive: per-graph recorded feeds, plus the provenance of the data."""

    graph_feeds: dict[str, list[dict[str, np.ndarray]]]
    info: dict = field(default_factory=dict)  # source, size, sha256, warnings

    def feeds(self, graph: str) -> list[dict[str, np.ndarray]]:
        if not self.graph_feeds.get(graph):
            raise UsageError(f"The calibration data produced no call of graph '{graph}'. Give inputs that exercise it.")
        return self.graph_feeds[graph]


# -- loaders, keyed by input kind -----------------------------------------------------------------
LOADERS: dict[str, Callable[[Path], RawSet]] = {}
BUILTIN: dict[str, Callable[[int], RawSet]] = {}


def loader(kind: str):
    def deco(fn):
        LOADERS[kind] = fn
        return fn
    return deco


def builtin(kind: str):
    def deco(fn):
        BUILTIN[kind] = fn
        return fn
    return deco


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _describe_folder(files: list[Path]) -> str:
    kinds = {"images": IMAGE_SUFFIXES, "WAV files": AUDIO_SUFFIXES, "text files": TEXT_SUFFIXES}
    counts = [f"{sum(f.suffix.lower() in s for f in files)} {k}" for k, s in kinds.items()
              if any(f.suffix.lower() in s for f in files)]
    other = sum(not any(f.suffix.lower() in s for s in kinds.values()) for f in files)
    if other:
        counts.append(f"{other} other file(s)")
    return ", ".join(counts) or "nothing"


def _folder_files(path: Path, suffixes: set[str], what: str, task_kind: str) -> list[Path]:
    if not path.exists():
        raise UsageError(f"Calibration path '{path}' does not exist. Give a folder of {what}.")
    if path.is_file():
        hint = " (it looks like a text file: this task takes " + task_kind + ")" if path.suffix.lower() in TEXT_SUFFIXES else ""
        raise UsageError(f"Calibration path '{path}' is a file{hint}; expected a folder of {what}.")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise UsageError(f"Calibration folder '{path}' is empty; put {what} in it (100 or more is recommended).")
    chosen = [p for p in files if p.suffix.lower() in suffixes]
    if not chosen:
        raise UsageError(f"Calibration folder '{path}' holds no {what} (it has {_describe_folder(files)}); this task "
                         f"takes {task_kind} input. Give a folder of {what}.")
    return chosen


@loader("text")
def load_text(path: Path) -> RawSet:
    if not path.exists():
        raise UsageError(f"Calibration file '{path}' does not exist. Give a text file with one sample per line.")
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        found = f" (it has {_describe_folder(files)})" if files else " (it is empty)"
        raise UsageError(f"Calibration path '{path}' is a folder{found}; this task takes text: give a text file "
                         "with one sample per line.")
    data = path.read_bytes()
    if path.suffix.lower() in IMAGE_SUFFIXES | AUDIO_SUFFIXES or b"\x00" in data[:4096]:
        raise UsageError(f"Calibration file '{path}' is binary (an image or audio file?); this task takes text: "
                         "give a UTF-8 text file with one sample per line.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"Calibration file '{path}' is not UTF-8 text ({e}); re-save it as UTF-8.") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise UsageError(f"Calibration file '{path}' has no non-empty lines; put one sample per line.")
    return RawSet("text", str(path), lines, [f"line {i + 1}" for i in range(len(lines))],
                  [_sha(s.encode("utf-8")) for s in lines])


@loader("image")
def load_images(path: Path) -> RawSet:
    from edgetool.runtime.preprocess.image import load_image

    files = _folder_files(path, IMAGE_SUFFIXES, "images (PNG, JPEG, BMP, WebP)", "image")
    items = []
    for f in files:
        try:
            items.append(load_image(f))
        except UsageError as e:
            raise UsageError(f"Calibration image '{f}': {e}") from None
    return RawSet("image", str(path), items, [str(f.relative_to(path)) for f in files], [_sha(f.read_bytes()) for f in files])


@loader("audio")
def load_waves(path: Path) -> RawSet:
    from edgetool.runtime.preprocess.audio import load_audio

    files = _folder_files(path, AUDIO_SUFFIXES, "WAV files", "audio")
    items = []
    for f in files:
        try:
            loaded = load_audio(f)
        except UsageError as e:
            raise UsageError(f"Calibration audio '{f}': {e}") from None
        # (wave, rate): the pipeline resamples to its model's rate, as it does for any input
        items.append({"raw": loaded[0], "sampling_rate": loaded[1]} if isinstance(loaded, tuple) else loaded)
    return RawSet("audio", str(path), items, [str(f.relative_to(path)) for f in files], [_sha(f.read_bytes()) for f in files])


# -- built-in demo sets (deterministic, generated in code: no downloads) ----------------------------
_SUBJECTS = ["The movie", "This phone", "My neighbour", "The new album", "Our team", "The weather", "A small cafe",
             "The museum in Paris", "John Smith", "The river", "The company", "The old library", "The hotel",
             "The train to Berlin", "The election", "The soup", "The children", "The mountain", "The engine",
             "The meeting"]
_VERBS = ["was", "is", "seems", "looked", "felt", "became", "remains", "sounded"]
_OBJECTS = ["absolutely wonderful", "terribly boring", "surprisingly good", "quite bad", "rather expensive",
            "really cheap", "very crowded", "completely empty", "fantastic and fun", "awful and slow", "calm",
            "noisy", "beautiful", "delicious", "disappointing", "excellent", "average", "strange", "perfect", "late"]
_TAILS = ["", " I would go again.", " Nobody expected that.", " It was on Monday.", " Everyone talked about it.",
          " The price was fair.", " We left early."]


@builtin("text")
def builtin_text(n: int) -> RawSet:
    combos = [f"{s} {v} {o}.{t}" for s, v, o, t in itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _TAILS)]
    order = np.random.default_rng(0).permutation(len(combos))[:n]
    items = [combos[i] for i in order]
    return RawSet("text", "builtin:text", items, [f"builtin {i}" for i in range(len(items))],
                  [_sha(s.encode()) for s in items])


@builtin("image")
def builtin_images(n: int) -> RawSet:
    """Gradients, blocks, discs and noise of various sizes: varied enough to exercise activation ranges.
    >= 64 px a side: dense models refuse pictures below their size_divisor (GLPN: 32)."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        h, w = (int(x) for x in rng.integers(64, 160, 2))
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        kind = i % 4
        if kind == 0:
            c = rng.uniform(0, 255, (3, 3))
            img = c[0] + np.stack([xx, yy, 1 - xx], -1) * (c[1] - c[0])
        elif kind == 1:
            cells = rng.integers(0, 255, (int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3))
            img = cells[(np.arange(h) * cells.shape[0] // h)[:, None], (np.arange(w) * cells.shape[1] // w)[None, :]]
        elif kind == 2:
            cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.4)
            inside = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)[..., None]
            img = np.where(inside, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))
        else:
            img = rng.normal(128, 60, (h, w, 3))
        items.append(np.clip(img, 0, 255).astype(np.uint8))
    return RawSet("image", "builtin:image", items, [f"builtin {i}" for i in range(n)], [_sha(a.tobytes()) for a in items])


@builtin("audio")
def builtin_audio(n: int, rate: int = 16000) -> RawSet:
    """Chirps, tones with noise, amplitude-modulated noise and silence-with-bursts, 0.3–1.5 s."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        t = np.arange(int(rng.uniform(0.3, 1.5) * rate)) / rate
        kind = i % 4
        if kind == 0:
            f0, f1 = rng.uniform(100, 800), rng.uniform(800, 4000)
            x = np.sin(2 * np.pi * (f0 + (f1 - f0) * t / (2 * t[-1])) * t)
        elif kind == 1:
            x = sum(rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * rng.uniform(80, 3000) * t) for _ in range(3))
            x = x + 0.05 * rng.standard_normal(t.size)
        elif kind == 2:
            x = rng.standard_normal(t.size) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 8) * t))
        else:
            x = np.zeros(t.size)
            for _ in range(3):
                s = int(rng.integers(0, max(1, t.size - 1600)))
                x[s:s + 1600] += rng.standard_normal(min(1600, t.size - s)) * 0.5
        items.append((x * rng.uniform(0.2, 0.9) / max(1e-6, np.abs(x).max())).astype(np.float32))
    return RawSet("audio", "builtin:audio", items, [f"builtin {i}" for i in range(n)], [_sha(a.tobytes()) for a in items])


def input_kind(spec) -> str:
    kind = spec.input_kind if spec.input_kind != "none" else spec.modality
    if kind not in LOADERS:
        raise UnsupportedError(
            f"Calibration data for task '{spec.name}' ({kind} input) is not supported yet (supported: "
            f"{', '.join(sorted(LOADERS))}). Use --precision fp16, or --method dynamic for ONNX Runtime INT8.")
    return kind


def load_raw(spec, path: Path | None, size: int | None, held_out: int = DEFAULT_HELD_OUT) -> tuple[RawSet, RawSet]:
    """(calibration inputs, held-out evaluation inputs) for a task. With no path, the built-in demo set."""
    kind = input_kind(spec)
    if size is not None and size < 1:
        raise UsageError(f"--calibration-size must be >= 1, got {size}.")
    if path is None:
        n = size or DEFAULT_CALIBRATION_SIZE
        raw = BUILTIN[kind](n + held_out)
        return raw.take(0, n), raw.take(n, None)
    raw = LOADERS[kind](Path(path))
    n = min(size or DEFAULT_CALIBRATION_SIZE, len(raw.items))
    rest = raw.take(n, n + held_out)
    if not rest.items and held_out:  # all of the user's data calibrates: hold out demo inputs instead
        rest = BUILTIN[kind](held_out)
    return raw.take(0, n), rest


def calibration_info(raw: RawSet, static: bool) -> dict:
    warnings = []
    n = len(raw.items)
    if static and n < MIN_STATIC_SAMPLES:
        warnings.append(f"calibration set has only {n} sample(s); INT8 static calibration needs {MIN_STATIC_SAMPLES}+ "
                        "representative samples for reliable ranges (pass --calibration with more data)")
    if raw.source.startswith("builtin:"):
        warnings.append("calibrated on edgetool's built-in demo set, not on data from your domain; "
                        "pass --calibration for production")
    return {"source": raw.source, "kind": raw.kind, "size": n, "sha256": raw.sha256, "warnings": warnings}


# -- raw inputs -> pipeline calls ------------------------------------------------------------------
def _default_adapter(x, template: Sample | None, bundle) -> Sample:
    """The input replaces the template's first positional argument; its options (top_k, candidate
    labels, choices, generation settings) are kept, so calibration follows the recorded usage."""
    if template is None:
        return Sample([x])
    return Sample([x, *template.args[1:]], dict(template.kwargs))


def to_samples(spec, bundle, raw: RawSet, templates: list[Sample] | None) -> list[Sample]:
    adapt = SAMPLE_ADAPTERS.get(spec.name, _default_adapter)
    templates = [t for t in (templates or [])]
    return [adapt(x, templates[i % len(templates)] if templates else None, bundle) for i, x in enumerate(raw.items)]


def batched(samples: list[Sample]) -> list[Sample]:
    """One more evaluation sample: the single-text samples that share their options, as one batch call.
    Dynamic INT8 takes activation ranges over the whole batch, so a short text batched with long ones
    loses more than alone; accuracy is measured the way users call (batches) as well as one by one."""
    groups: dict[str, list[str]] = {}
    for s in samples:
        if len(s.args) == 1 and isinstance(s.args[0], str):
            groups.setdefault(repr(sorted(s.kwargs.items())), []).append(s.args[0])
    out = []
    for s in samples:
        texts = groups.pop(repr(sorted(s.kwargs.items())), None) if len(s.args) == 1 and isinstance(s.args[0], str) else None
        if texts and len(texts) > 1:
            out.append(Sample([texts], dict(s.kwargs)))
    return out


def record_feeds(bundle, engines: dict, samples: list[Sample], names: list[str], limit: int | None = None) -> dict:
    """Run the bundle's pipeline over the samples on `engines`, keeping each graph's feeds (every form of a graph
    that has an alternative: edgetool.check.golden.record)."""
    from edgetool.check.golden import record
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.tasks import get_task

    cls = pipeline_class(get_task(bundle.task))
    factory = lambda engs: cls(bundle, engines=engs)  # noqa: E731
    wanted = {g: [t.name for t in spec.inputs] for g, spec in bundle.graphs.items()}
    feeds: dict[str, list] = {g: [] for g in bundle.graphs}
    for sample, name in zip(samples, names):
        try:
            calls = record(factory, engines, [sample]).calls[0]
        except UsageError as e:
            raise UsageError(f"Calibration sample {name} could not be processed by the '{bundle.task}' pipeline: {e}") from None
        for call in calls:
            if limit is None or len(feeds[call.graph]) < limit:
                feeds[call.graph].append({k: call.feeds[k] for k in wanted[call.graph] if k in call.feeds})
    return feeds


def build_calibration(bundle, spec, raw: RawSet, templates: list[Sample] | None, static: bool,
                      max_calls: int = 512) -> CalibrationSet:
    from edgetool.runtime.pipelines.base import open_engines

    engines = open_engines(bundle, "onnxruntime", "fp32")
    samples = to_samples(spec, bundle, raw, templates)
    feeds = record_feeds(bundle, engines, samples, raw.names, limit=max_calls)
    info = calibration_info(raw, static)
    info["calls"] = {g: len(v) for g, v in feeds.items()}
    return CalibrationSet(feeds, info)
