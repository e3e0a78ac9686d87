"""The head protocol every family's head follows."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Prepared:
    """One batch after pre-processing: its raw items, the graph inputs, and whatever post-processing
    needs from pre-processing (encodings, letterbox maps, ...)."""

    items: list
    feeds: dict = field(default_factory=dict)
    extra: Any = None


class Head:
    """One family's steps for one task, bound to its pipeline (for the bundle, the processing settings
    and `run_graph`). The base head runs the single graph "model" as it is: families whose graphs and
    post-processing need nothing of their own (the encoder family of the text tasks) use it as is.

    Task pipelines call the hooks their task needs (documented on each task's heads); the ones every
    head has are `setup()` (read the family's settings once) and `forward(feeds)` (the engine call)."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.bundle = pipe.bundle
        self.setup()

    def setup(self) -> None:
        """Read the family's settings from the bundle."""

    def forward(self, feeds: dict) -> dict[str, Any]:
        return self.pipe.run_graph("model", feeds)
