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
        for name, spec in self._inputs.items():
            arr = np.asarray(feeds[name])
            if arr.dtype != np.dtype(spec.dtype):
                raise UsageError(
                    f"Input '{name}' of graph '{self.graph.name}' must be {spec.dtype}, got {arr.dtype}."
                )
            if arr.ndim != len(spec.shape) or any(
                isinstance(d, int) and d >= 0 and d != s for d, s in zip(spec.shape, arr.shape)
            ):
                raise UsageError(
                    f"Input '{name}' of graph '{self.graph.name}' must have shape {list(spec.shape)}, got {list(arr.shape)}."
                )
            out[name] = np.ascontiguousarray(arr)
        return out

    # -- subclass API ------------------------------------------------------------------------
    def _load(self) -> None:
        raise NotImplementedError

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError
