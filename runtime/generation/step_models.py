"""StepModels: one generation step on exported graphs, with the KV cache kept as NumPy arrays.

Protocol (what search.py drives):
    state = model.start(batch_inputs, expand)   # encode once; rows repeated `expand` times (beams)
    logits = model.step(state, new_tokens)      # float32 [rows, vocab] for the last position
    model.reorder(state, rows)                  # beam search: gather the cache along the batch axis
`run` is any callable (graph_name, feeds) -> outputs: a pipeline's run_graph, so every backend works.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class StepModel(Protocol):
    def start(self, inputs: dict, expand: int) -> dict: ...
    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray: ...
    def reorder(self, state: dict, rows: np.ndarray) -> None: ...


def _layers(names, prefix: str, suffix: str = "") -> list[str]:
    return sorted({n.split(".")[1] for n in names if n.startswith(prefix)}, key=int)


class DecoderOnlyModel:
    """GPT-2 style graph 'decoder': input_ids, attention_mask[, position_ids], past_key_values.{i}.key/value."""

    def __init__(self, run: Callable, graph_spec):
        self.run = run
        self.inputs = {t.name: t for t in graph_spec.inputs}
        self.layers = _layers(self.inputs, "past_key_values.")
        k = self.inputs[f"past_key_values.{self.layers[0]}.key"].shape
        self.heads, self.head_dim = k[1], k[3]
        self.uses_positions = "position_ids" in self.inputs

    def start(self, inputs: dict, expand: int = 1) -> dict:
        mask = np.repeat(inputs["attention_mask"].astype(np.int64), expand, axis=0)
        rows = mask.shape[0]
        past = {f"past_key_values.{i}.{kv}": np.zeros((rows, self.heads, 0, self.head_dim), np.float32)
                for i in self.layers for kv in ("key", "value")}
        return {"mask": mask, "past": past, "first": True}

    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray:
        mask = state["mask"]
        if not state["first"]:
            mask = np.concatenate([mask, np.ones((mask.shape[0], new_tokens.shape[1]), np.int64)], axis=1)
        feeds = {"input_ids": new_tokens.astype(np.int64), "attention_mask": mask, **state["past"]}
        if self.uses_positions:
            # transformers: cumsum of the mask - 1, padding positions set to 1 (left padding)
            pos = np.cumsum(mask, axis=1) - 1
            pos = np.where(mask == 0, 1, pos)
            feeds["position_ids"] = pos[:, -new_tokens.shape[1]:].astype(np.int64)
        out = self.run("decoder", feeds)
        state.update(mask=mask, first=False,
                     past={f"past_key_values.{i}.{kv}": out[f"present.{i}.{kv}"] for i in self.layers for kv in ("key", "value")})
        return out["logits"][:, -1, :].astype(np.float32)

    def reorder(self, state: dict, rows: np.ndarray) -> None:
        state["mask"] = state["mask"][rows]
        state["past"] = {k: v[rows] for k, v in state["past"].items()}


class EncoderDecoderModel:
    """Graphs 'encoder', 'cross_kv' (once per input) and 'decoder' (self cache grows, cross cache constant)."""

    def __init__(self, run: Callable, graphs: dict):
        self.run = run
        self.encoder_inputs = [t.name for t in graphs["encoder"].inputs]
        self.cross_inputs = {t.name for t in graphs["cross_kv"].inputs}
        self.dec_inputs = {t.name: t for t in graphs["decoder"].inputs}
        self.layers = _layers(self.dec_inputs, "past_key_values.")
        k = self.dec_inputs[f"past_key_values.{self.layers[0]}.decoder.key"].shape
        self.heads, self.head_dim = k[1], k[3]

    def start(self, inputs: dict, expand: int = 1) -> dict:
        enc = self.run("encoder", {n: inputs[n] for n in self.encoder_inputs if n in inputs})["last_hidden_state"]
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = np.ones(enc.shape[:2], np.int64)
        feeds = {"encoder_hidden_states": enc, "encoder_attention_mask": mask.astype(np.int64)}
        cross = self.run("cross_kv", {k: v for k, v in feeds.items() if k in self.cross_inputs})
        rows = enc.shape[0] * expand
        state = {"enc_mask": np.repeat(mask.astype(np.int64), expand, axis=0), "past": {}}
        for i in self.layers:
            for kv in ("key", "value"):
                state["past"][f"past_key_values.{i}.encoder.{kv}"] = np.repeat(cross[f"present.{i}.encoder.{kv}"], expand, axis=0)
                state["past"][f"past_key_values.{i}.decoder.{kv}"] = np.zeros((rows, self.heads, 0, self.head_dim), np.float32)
        return state

    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray:
        feeds = {"decoder_input_ids": new_tokens.astype(np.int64), "encoder_attention_mask": state["enc_mask"], **state["past"]}
        out = self.run("decoder", feeds)
        for i in self.layers:
            for kv in ("key", "value"):
                state["past"][f"past_key_values.{i}.decoder.{kv}"] = out[f"present.{i}.decoder.{kv}"]
        return out["logits"][:, -1, :].astype(np.float32)

    def reorder(self, state: dict, rows: np.ndarray) -> None:
        state["enc_mask"] = state["enc_mask"][rows]
        state["past"] = {k: v[rows] for k, v in state["past"].items()}
