"""One engine, one measurement, in a fresh process: run by benchmarks/llm_speed.py with a JSON job as its only
argument, prints one JSON line. It runs in the engine's own environment (.venv, .venv-genai, .venv-optimum),
so only the standard library and NumPy are imported here; each runner imports its engine.

A runner has two calls, both greedy, batch 1, each with a fresh (empty) KV cache:
    prefill(ids [1, n])         one forward over the prompt
    decode(ids [1, n], new, stamp)   generates exactly `new` tokens with the engine's own generation loop,
                                 calling stamp() whenever the next token's logits are ready: the prompt's
                                 forward, then one step per token, so the interval between stamps i and i+1
                                 is the step whose past holds n + i positions.
With "turns": N in the job (benchmarks/llm_paired.py) it decodes N times, waiting for its turn after each
prompt's forward (Stamps), and returns every decode's step times.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

SPECIAL_IDS = 3  # ids 0..2 are the tokenizer's special tokens: prompts avoid them


class Edgetool:
    """The NumPy runtime's own loop (edgetool.runtime.generation.generate) over a bundle's StepModel."""

    def __init__(self, model: Path, threads: int, backend: str, precision: str):
        from edgetool.runtime import pipeline

        self.pipe = pipeline(model, backend=backend, precision=precision, threads=threads)
        self.model = self.pipe.model

    def files(self) -> list[Path]:  # the artifacts it ran, not the bundle's other precisions or golden data
        # (a graph opened only when needed — the portable decoder beside ONNX Runtime's fused one — when it was)
        return [self.pipe.bundle.root / f for engine in self.pipe.engines.values() if getattr(engine, "opened", True)
                for f in engine.artifact.files]

    def prefill(self, ids):
        self.model.step(self.model.start({"attention_mask": np.ones_like(ids)}), ids)

    def decode(self, ids, new, stamp):
        from edgetool.runtime.generation import generate

        inner = self.model

        class Stamped:  # the StepModel, stamping when each step's logits are back
            is_encoder_decoder = False
            start, reorder = inner.start, inner.reorder

            def step(self, state, tokens):
                logits = inner.step(state, tokens)
                stamp()
                return logits

        cfg = self.pipe.generation_config(max_new_tokens=new, min_new_tokens=new, do_sample=False, num_beams=1)
        generate(Stamped(), {"attention_mask": np.ones_like(ids)}, ids, cfg)


class Transformers:
    """`model.generate` (PyTorch eager attention, DynamicCache), stamped by a logits processor: processors run
    once per new token, right after its forward."""

    def __init__(self, model: Path, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.path = torch, model
        self.model = self.load(model, threads)

    def files(self) -> list[Path]:
        return list(self.path.glob("*.safetensors"))

    def load(self, model: Path, threads: int):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(str(model), attn_implementation="eager").eval()

    def feeds(self, ids) -> dict:
        t = self.torch.from_numpy(ids)
        return {"input_ids": t, "attention_mask": self.torch.ones_like(t)}

    def prefill(self, ids):
        with self.torch.no_grad():
            self.model(**self.feeds(ids), use_cache=True)

    def decode(self, ids, new, stamp):
        from transformers import LogitsProcessor, LogitsProcessorList

        class Stamp(LogitsProcessor):
            def __call__(self, input_ids, scores):
                stamp()
                return scores

        with self.torch.no_grad():
            out = self.model.generate(**self.feeds(ids), max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                      num_beams=1, pad_token_id=0, logits_processor=LogitsProcessorList([Stamp()]))
        assert out.shape[1] == ids.shape[1] + new


class Optimum(Transformers):
    """optimum's ORTModelForCausalLM (ONNX Runtime session, transformers' generate loop)."""

    def files(self) -> list[Path]:
        return list(self.path.glob("*.onnx*"))

    def load(self, model: Path, threads: int):
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForCausalLM

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        return ORTModelForCausalLM.from_pretrained(str(model), session_options=so, provider="CPUExecutionProvider")


class GenAI:
    """onnxruntime-genai's Generator: append_tokens runs the prompt, each generate_next_token picks a token from
    the logits at hand and (from the second call on) first runs the forward of the token before."""

    def __init__(self, model: Path, threads: int):
        import onnxruntime_genai as og

        config = og.Config(str(model))
        # the session's threads live in genai_config.json; an overlay sets them without rewriting the file
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}}))
        self.og, self.model, self.path = og, og.Model(config), model

    def files(self) -> list[Path]:
        return list(self.path.glob("*.onnx*"))

    def generator(self, ids, new):
        params = self.og.GeneratorParams(self.model)
        n = ids.shape[1] + new
        params.set_search_options(max_length=n, min_length=n, do_sample=False)
        return self.og.Generator(self.model, params)

    def prefill(self, ids):
        self.generator(ids, 1).append_tokens(ids)

    def decode(self, ids, new, stamp):
        gen = self.generator(ids, new)
        gen.append_tokens(ids)
        stamp()
        gen.generate_next_token()  # the first token: from the prompt's logits, no forward
        for _ in range(new - 1):
            gen.generate_next_token()
            stamp()
        assert gen.token_count() == ids.shape[1] + new  # min_length kept eos away


RUNNERS: dict[str, Callable] = {"edgetool": Edgetool, "transformers": Transformers, "optimum": Optimum, "genai": GenAI}
PACKAGES = {"edgetool": ("onnxruntime", "openvino"), "transformers": ("torch", "transformers"),
            "optimum": ("optimum-onnx", "onnxruntime"), "genai": ("onnxruntime-genai", "onnxruntime")}


def versions(runner: str) -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in PACKAGES[runner]}


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss would carry the parent's over execve). edgetool.bench.measure has
    the same reader; this one stays here because the worker also runs in venvs without edgetool."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stamps:
    """The step times of one decode. With `pause` set, the worker takes turns with another one (run by
    benchmarks/llm_paired.py): at the prompt's stamp it says "ready" on stdout and waits for a line on stdin, and
    the clock starts when the turn comes."""

    def __init__(self, pause: bool = False):
        self.pause, self.last, self.steps_ms = pause, None, []

    def __call__(self) -> None:
        if self.last is None and self.pause:
            print("ready", flush=True)
            sys.stdin.readline()
        now = time.perf_counter()
        if self.last is not None:
            self.steps_ms.append((now - self.last) * 1e3)
        self.last = now


def measure(runner, job: dict) -> dict:
    rng = np.random.default_rng(0)  # the same prompts for every engine
    vocab = job["vocab"]
    decode_ids = rng.integers(SPECIAL_IDS, vocab, (1, job["prompt"]), dtype=np.int64)
    prefill_ids = rng.integers(SPECIAL_IDS, vocab, (1, job["prefill"]), dtype=np.int64)
    # warm-up: first-call allocations, thread pools, and plans per input shape are start-up costs, not speed
    runner.decode(decode_ids, 4, lambda: None)
    runner.prefill(prefill_ids)
    prefill = []
    for _ in range(job["prefill_repeats"]):
        t = time.perf_counter()
        runner.prefill(prefill_ids)
        prefill.append((time.perf_counter() - t) * 1e3)
    turns = []  # "turns": N decodes, each waiting for its turn after its prompt's forward
    for _ in range(job.get("turns") or 1):
        stamps = Stamps(pause=bool(job.get("turns")))
        runner.decode(decode_ids, job["new_tokens"], stamps)
        got = len(stamps.steps_ms) + 1
        assert got == job["new_tokens"], f"{got} stamps for {job['new_tokens']} tokens"  # forced length
        turns.append([round(s, 4) for s in stamps.steps_ms])
    steps = np.array(turns[0])  # steps[i]: past of prompt + i positions
    return {"prefill_ms": float(np.median(prefill)) if prefill else None, "steps_ms": turns[0],
            "first_past": job["prompt"], "tokens_per_s": float(len(steps) / steps.sum() * 1e3),
            **({"turns_ms": turns} if job.get("turns") else {})}


def main() -> None:
    job = json.loads(sys.argv[1])
    t = time.perf_counter()
    runner = RUNNERS[job["runner"]](Path(job["model"]), job["threads"], **job["options"])
    load_s = time.perf_counter() - t
    result = measure(runner, job)
    size_mb = sum(f.stat().st_size for f in runner.files()) / 2**20
    print(json.dumps({**result, "load_s": load_s, "peak_rss_mb": peak_rss_mb(), "size_mb": size_mb,
                      "versions": versions(job["runner"])}))


if __name__ == "__main__":
    main()
