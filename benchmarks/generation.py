"""Generation speed: tokens/s for 128 new tokens, and time per token at step 1 vs step 128.

A GPT-2-style decoder (hidden 256, 4 layers, 4 heads, vocab 400, random weights built in code) is
exported with edgetool and run by the NumPy runtime on ONNX Runtime and OpenVINO, against
`model.generate` on PyTorch eager, greedy, batch 1, interleaved runs. Usage:
    .venv/bin/python benchmarks/generation.py [--runs 3] [--new-tokens 128]
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def build_checkpoint(out: Path) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from edgetool.export.reference.generation import train_gpt2_tokenizer

    from transformers import AutoTokenizer

    train_gpt2_tokenizer(out, model_max_length=512)
    eos = AutoTokenizer.from_pretrained(str(out)).eos_token_id
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=400, n_positions=512, n_embd=256, n_layer=4, n_head=4, bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(cfg).eval().save_pretrained(str(out))


class TimedModel:
    """Wraps a StepModel and records the wall time of every step."""

    def __init__(self, inner):
        self.inner, self.times = inner, []

    def start(self, inputs, expand=1):
        return self.inner.start(inputs, expand)

    def step(self, state, new):
        t = time.perf_counter()
        out = self.inner.step(state, new)
        self.times.append(time.perf_counter() - t)
        return out

    def reorder(self, state, rows):
        self.inner.reorder(state, rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=128)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.runtime import pipeline
    from edgetool.runtime.generation import generate

    work = Path(tempfile.mkdtemp(prefix="edgetool-genbench-"))
    ckpt = work / "gpt2"
    build_checkpoint(ckpt)
    bundle = export(ExportOptions(task="text-generation", model=ckpt, target="openvino", out=work / "bundle", quiet=True))
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    model = AutoModelForCausalLM.from_pretrained(str(ckpt)).eval()
    prompt = tok("The weather was", return_tensors="np")
    n = args.new_tokens
    pipes = {be: pipeline(bundle, backend=be) for be in ("onnxruntime", "openvino")}
    results: dict[str, list] = {k: [] for k in ("torch", *pipes)}
    steps: dict[str, list] = {k: [] for k in pipes}
    for _ in range(args.runs):  # interleaved, so machine noise hits every engine alike
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(**{k: torch.from_numpy(v) for k, v in prompt.items()}, max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, pad_token_id=0)
        results["torch"].append(n / (time.perf_counter() - t))
        for be, pipe in pipes.items():
            timed = TimedModel(pipe.model)
            cfg = pipe.generation_config(max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1)
            t = time.perf_counter()
            generate(timed, {"attention_mask": prompt["attention_mask"]}, prompt["input_ids"], cfg)
            results[be].append(n / (time.perf_counter() - t))
            steps[be].append(timed.times)
    print(f"# Generation benchmark ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores): GPT-2 h256 L4, greedy, batch 1, {n} new tokens, median of {args.runs}\n")
    print("| engine | tokens/s | vs torch | step 1 (ms) | step 128 (ms) | step 128 / step 2..10 |")
    print("|---|---|---|---|---|---|")
    base = np.median(results["torch"])
    print(f"| PyTorch eager generate | {base:.1f} | 1.00x | - | - | - |")
    for be in pipes:
        st = np.median(np.array(steps[be]), axis=0) * 1000
        early = np.median(st[1:10])
        print(f"| edgetool {be} | {np.median(results[be]):.1f} | {np.median(results[be]) / base:.2f}x | "
              f"{st[0]:.2f} | {st[min(127, len(st) - 1)]:.2f} | {st[min(127, len(st) - 1)] / early:.2f} |")


if __name__ == "__main__":
    main()
