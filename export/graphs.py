"""What gets traced: a wrapper module per ONNX graph with its dummy inputs and dynamic axes."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import torch

from edgetool.runtime.names import BATCH, SEQUENCE


class NamedIO(torch.nn.Module):
    """forward(*tensors in `input_names` order) -> tuple of outputs picked by `select`.

    Tracing needs positional tensors; `call(feeds)` gives the same computation to the torch
    reference backend from a name -> array dict."""

    def __init__(self, model: torch.nn.Module, input_names: list[str], select: Callable[[Any], tuple]):
        super().__init__()
        self.model, self.input_names, self.select = model, list(input_names), select

    def forward(self, *args):
        return self.select(self.model(**dict(zip(self.input_names, args)), return_dict=True))


@dataclass
class GraphExport:
    name: str  # graph name in the bundle ("model", "encoder", "decoder", ...)
    module: torch.nn.Module  # forward(*inputs) -> tuple(outputs)
    inputs: dict[str, torch.Tensor]  # dummy inputs, in forward order
    outputs: list[str]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    dynamo: bool | None = None  # None: the export options decide; True/False: this graph needs that exporter
    # Model quirks (the family adapter's patches): factories of context managers entered around every run
    # of the module, tracing and torch reference runs alike, so both see the same computation.
    patches: tuple[Callable[[], ContextManager], ...] = ()
    # A graph written from the weights instead of traced (export/fused_decoder.py): build(path) writes the ONNX;
    # `module` stays the torch reference its outputs are compared with.
    build: Callable[[Any], None] | None = None

    def __post_init__(self):
        # The exporter restores the wrapper's training flag afterwards, recursively: a wrapper left in
        # train mode would switch the model's dropout on for every later torch call.
        self.module.eval()

    def patched(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for patch in self.patches:
            stack.enter_context(patch())
        return stack

    def call(self, feeds: dict) -> dict:
        """Run the torch module on numpy feeds (names the graph does not take are ignored)."""
        args = []
        for n in self.inputs:
            if n not in feeds:
                raise KeyError(f"torch graph '{self.name}' needs input '{n}'")
            args.append(torch.from_numpy(feeds[n]))
        with torch.no_grad(), self.patched():
            out = self.module(*args)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return {n: t.detach().cpu().numpy() for n, t in zip(self.outputs, out)}


def text_encoder_graph(source, outputs: dict[str, Callable[[Any], torch.Tensor]], name: str = "model",
                       sequence_outputs: tuple[str, ...] = (),
                       dummy_texts=("a short text", "another, somewhat longer text for tracing")) -> GraphExport:
    """An encoder taking tokenizer outputs (input_ids, attention_mask[, token_type_ids]).

    `outputs` maps output names to functions of the model's output; those in `sequence_outputs`
    have a dynamic sequence axis too (token logits, hidden states)."""
    import inspect

    tok = source.tokenizer()
    accepted = set(inspect.signature(source.model.forward).parameters)
    names = [n for n in tok.model_input_names if n in accepted]
    enc = tok(list(dummy_texts), padding=True, return_tensors="pt")
    inputs = {n: enc[n].to(torch.int64) for n in names if n in enc}
    sel = lambda o: tuple(fn(o) for fn in outputs.values())  # noqa: E731
    axes = {n: {0: BATCH, 1: SEQUENCE} for n in inputs}
    for out in outputs:
        axes[out] = {0: BATCH, 1: SEQUENCE} if out in sequence_outputs else {0: BATCH}
    return GraphExport(name, NamedIO(source.model, list(inputs), sel), inputs, list(outputs), axes)
