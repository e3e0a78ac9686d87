"""Pipeline base: pre-process → engine(s) → post-process, shaped like `transformers.pipeline`."""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..backends import TARGET_BACKEND, Backend, BackendOptions, backend_class
from ..bundle import Bundle
from ..tasks import TaskSpec, get_task


def open_engines(bundle: Bundle, backend: str | None = None, precision: str | None = None,
                 options: BackendOptions | None = None) -> dict[str, Backend]:
    """One Backend per graph of the bundle, for the chosen engine and precision."""
    name = backend or TARGET_BACKEND.get(bundle.manifest.get("default_target", "onnx"), "onnxruntime")
    cls = backend_class(name)
    chosen = bundle.select(cls.formats, precision, cls.name)
    engines = {}
    for graph, art in chosen.items():
        for rel in art.files:  # verify every file of the artifact (e.g. OpenVINO .xml and .bin)
            bundle.file(rel)
        engines[graph] = cls(bundle.file(art.path), bundle.graphs[graph], options)
        engines[graph].artifact = art
    return engines


class Pipeline:
    """Subclasses implement `__call__` (or preprocess/postprocess) and `format`."""

    def __init__(self, bundle: Bundle, backend: str | None = None, precision: str | None = None,
                 options: BackendOptions | None = None, engines: Mapping[str, Any] | None = None):
        self.bundle = bundle
        self.spec: TaskSpec = get_task(bundle.task)
        self.engines = dict(engines) if engines is not None else open_engines(bundle, backend, precision, options)
        self.setup()

    def setup(self) -> None:
        """Load processors (tokenizer, image/audio settings) from the bundle."""

    def run_graph(self, graph: str, feeds: dict) -> dict:
        return self.engines[graph].run(feeds)

    @property
    def backend_name(self) -> str:
        return next(iter(self.engines.values())).name

    def format(self, result: Any) -> str:
        """Human-readable rendering for `edgetool run`; JSON is the fallback."""
        return json.dumps(result, indent=2, ensure_ascii=False)
