"""The PyTorch model as a Backend-shaped engine: the reference every artifact is compared with."""
from __future__ import annotations

import numpy as np

from .graphs import GraphExport


class TorchEngine:
    name = "torch"

    def __init__(self, graph: GraphExport):
        self.graph = graph

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.graph.call(feeds)


def torch_engines(graphs: list[GraphExport]) -> dict[str, TorchEngine]:
    return {g.name: TorchEngine(g) for g in graphs}
