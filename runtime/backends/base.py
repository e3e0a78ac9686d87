"""The Backend contract: run(feeds) -> outputs; the public method checks, the subclass executes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import GraphSpec
from ..errors import UsageError

if TYPE_CHECKING:
    from ..manifest import Artifact


@dataclass
class BackendOptions:
    """Options every backend understands; engine-specific ones go in `extra`."""

    threads: int | None = None  # intra-op threads; None = the engine's default
    device: str | None = None  # engine device name (OpenVINO "CPU", ORT provider, ...)
    # OpenVINO only: "f32" for parity (its CPUs may default to bf16), "default" to let it choose.
    inference_precision: str = "f32"
    cache_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend:
    """Executes one artifact (one graph). Subclasses set `name`, `formats`, and implement _load/_run."""

    name = "?"
    formats: tuple[str, ...] = ()
    # KV-cache growth block for generation (see DecoderOnlyModel); None: the cache grows by one each step.
    cache_block: int | None = None
    # The bundle artifact it runs, set by open_engines after construction (None for a bare file).
    artifact: Artifact | None = None

    def __init__(self, path: Path, graph: GraphSpec, options: BackendOptions | None = None):
        self.path = Path(path)
        self.graph = graph
        self.options = options or BackendOptions()
        self._inputs = {t.name: t for t in graph.inputs}
        # what check_feeds compares, resolved once: per input its dtype, rank and fixed dims (index, size)
        self._checks = [(t.name, t, np.dtype(t.dtype), len(t.shape),
                         [(i, d) for i, d in enumerate(t.shape) if isinstance(d, int) and d >= 0]) for t in graph.inputs]
        self._load()

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.graph.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        checked = self.check_feeds(feeds)
        return self._run(checked)

    def check_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Names, dtypes and ranks/fixed dims against the graph. Extra feeds are dropped: exporters may
        remove inputs a graph does not use (the bundle's inputs come from the graph itself)."""
        missing = [n for n in self._inputs if n not in feeds]
        if missing:
            raise UsageError(f"Graph '{self.graph.name}' needs inputs {missing}; got {sorted(feeds)}.")
        out = {}
        for name, spec, dtype, ndim, fixed in self._checks:
            arr = np.asarray(feeds[name])
            if arr.dtype != dtype:
                raise UsageError(
                    f"Input '{name}' of graph '{self.graph.name}' must be {spec.dtype}, got {arr.dtype}."
                )
            shape = arr.shape
            if len(shape) != ndim or any(shape[i] != d for i, d in fixed):
                raise UsageError(
                    f"Input '{name}' of graph '{self.graph.name}' must have shape {list(spec.shape)}, got {list(shape)}."
                )
            out[name] = np.ascontiguousarray(arr)
        return out

    # -- subclass API ------------------------------------------------------------------------
    def _load(self) -> None:
        raise NotImplementedError

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError
