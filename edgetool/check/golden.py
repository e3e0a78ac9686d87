"""Golden I/O: sample inputs, every engine call they caused (feeds and outputs), and the pipeline
results — recorded at export from the PyTorch model, so a device without torch can check itself."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLES_FILE = "golden/samples.json"
TENSORS_FILE = "golden/tensors.npz"


@dataclass
class Call:
    graph: str
    feeds: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


@dataclass
class Sample:
    args: list  # positional pipeline arguments (may hold numpy arrays: images, audio)
    kwargs: dict = field(default_factory=dict)


@dataclass
class Golden:
    samples: list[Sample]
    results: list[Any] = field(default_factory=list)  # pipeline result per sample
    calls: list[list[Call]] = field(default_factory=list)  # engine calls per sample
    # The transformers pipeline's answers on the samples (edgetool.export.e2e_reference): {"status": "ok" |
    # "no-pipeline" | "bad-reference", "source", "results" | "reason"}; None in bundles made before it existed.
    e2e: dict | None = None


class Recorder:
    """Wraps an engine (anything with run(feeds) -> outputs) and keeps every call."""

    def __init__(self, engine, graph: str, sink: list[Call]):
        self.engine, self.graph, self.sink = engine, graph, sink
        self.name = getattr(engine, "name", "?")
        self.artifact = getattr(engine, "artifact", None)  # what it runs: its dtypes (Bundle.graph_spec)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.engine.run(feeds)
        kept = {k: np.array(v) for k, v in feeds.items()}
        self.sink.append(Call(self.graph, kept, {k: np.array(v) for k, v in outputs.items()}))
        return outputs


def run_samples(pipeline_factory, engines: dict, samples: list[Sample]) -> Golden:
    """Run each sample through a pipeline built on recording engines."""
    golden = Golden(samples=list(samples))
    for sample in samples:
        sink: list[Call] = []
        pipe = pipeline_factory({g: Recorder(e, g, sink) for g, e in engines.items()})
        golden.results.append(to_jsonable(pipe(*sample.args, **sample.kwargs)))
        golden.calls.append(sink)
    return golden


def record(pipeline_factory, engines: dict, samples: list[Sample]) -> Golden:
    """run_samples for a reference. Where the engines hold a graph that stands in for another on some engines
    (names.ALTERNATIVE_GRAPHS: the pipeline prefers it wherever it applies), the answers and calls come from a run
    without it, and a second run adds its calls: every form of the graph gets replayed on the engines that run it."""
    from edgetool.runtime.names import ALTERNATIVE_GRAPHS

    alternatives = {g for g in engines if g in ALTERNATIVE_GRAPHS}
    golden = run_samples(pipeline_factory, {g: e for g, e in engines.items() if g not in alternatives}, samples)
    if alternatives:
        other = run_samples(pipeline_factory, engines, samples)
        for calls, more in zip(golden.calls, other.calls):
            calls.extend(c for c in more if c.graph in alternatives)
    return golden


def to_jsonable(obj):
    """Pipeline results as plain JSON values (numpy scalars/arrays become Python numbers/lists)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "size") and hasattr(obj, "mode"):  # a PIL image in a result (mask, depth picture)
        return {"image": list(obj.size), "mode": obj.mode, "png": _png_base64(obj)}
    return obj


def _png_base64(img) -> str:
    """Lossless and compact (masks are mostly flat), so metrics such as mean_iou can compare pixels."""
    import base64

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- on disk: JSON for structure, one .npz (no pickle) for arrays --------------------------------
def _encode(value, arrays: dict, key: str):
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {k: _encode(v, arrays, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
    return value


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def save(golden: Golden, root: Path) -> list[str]:
    """Write golden/ under root; returns the relative paths written."""
    arrays: dict[str, np.ndarray] = {}
    doc = {"samples": [], "results": golden.results, "calls": []}
    if golden.e2e is not None:
        doc["e2e"] = golden.e2e
    for i, s in enumerate(golden.samples):
        doc["samples"].append({"args": _encode(list(s.args), arrays, f"s{i}.args"),
                               "kwargs": _encode(dict(s.kwargs), arrays, f"s{i}.kwargs")})
    for i, calls in enumerate(golden.calls):
        entries = []
        for j, c in enumerate(calls):
            key = f"c{i}.{j}"
            for n, a in c.feeds.items():
                arrays[f"{key}/in/{n}"] = a
            for n, a in c.outputs.items():
                arrays[f"{key}/out/{n}"] = a
            entries.append({"graph": c.graph, "key": key, "inputs": list(c.feeds), "outputs": list(c.outputs)})
        doc["calls"].append(entries)
    (root / "golden").mkdir(parents=True, exist_ok=True)
    (root / SAMPLES_FILE).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (root / TENSORS_FILE).write_bytes(buf.getvalue())
    return [SAMPLES_FILE, TENSORS_FILE]


def load(bundle) -> Golden:
    """Read (and hash-check) a bundle's golden/ files."""
    doc = bundle.json_file(SAMPLES_FILE)
    with np.load(bundle.file(TENSORS_FILE), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    samples = [Sample(_decode(s["args"], arrays), _decode(s["kwargs"], arrays)) for s in doc["samples"]]
    calls = [[Call(c["graph"], {n: arrays[f"{c['key']}/in/{n}"] for n in c["inputs"]},
                   {n: arrays[f"{c['key']}/out/{n}"] for n in c["outputs"]}) for c in entries]
             for entries in doc["calls"]]
    return Golden(samples, doc["results"], calls, doc.get("e2e"))
