"""Edge LLM decode speed: edgetool bundles against transformers, optimum and ONNX Runtime GenAI.

A Llama-shaped model the size of SmolLM-135M (hidden 576, 30 layers, 9 heads / 3 KV heads, vocab 49152, tied
embeddings, random weights seeded in code) is exported once per engine into a work folder (reused when
present), then every engine runs batch 1, greedy, in a fresh subprocess per engine per round
(benchmarks/llm_worker.py, one JSON line back), rounds interleaved with a rotating start so machine noise hits
every engine alike. Engines living in other environments (.venv-genai, .venv-optimum: `make bench-llm-envs`)
are skipped with the reason when their environment or build is missing. Usage:
    .venv/bin/python benchmarks/llm_speed.py [--threads 1,2] [--rounds 3] [--engines a,b] [--quick]
        [--work benchmarks/.llm-work] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "llm_worker.py"
MAIN_PY = Path(sys.executable)
GENAI_PY = ROOT / ".venv-genai" / "bin" / "python"
OPTIMUM_PY = ROOT / ".venv-optimum" / "bin" / "python"

# SmolLM-135M's shape (HuggingFaceTB/SmolLM-135M config.json)
LLAMA = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
             intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048, tie_word_embeddings=True,
             rope_theta=10000.0, rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=0)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # SmolLM's first ids: bos = eos = 0


class Skip(Exception):
    """An engine that cannot run here; the message says why."""


# --- the checkpoint -----------------------------------------------------------------------------------------

def corpus(n_words: int = 400_000, seed: int = 0) -> list[str]:
    """Seeded pseudo-words (Zipf-distributed over a large lexicon): enough distinct pieces for BPE to learn
    the 49152 tokens of SmolLM's vocabulary in seconds."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    p = 1 / np.arange(1, 27) ** 0.9
    lexicon = ["".join(rng.choice(letters, size=rng.integers(2, 11), p=p / p.sum())) for _ in range(150_000)]
    ranks = np.minimum(rng.zipf(1.1, n_words), len(lexicon)) - 1
    words = [lexicon[r] for r in ranks]
    return [" ".join(words[i:i + 12]) + "." for i in range(0, n_words, 12)]


def build_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=LLAMA["vocab_size"], special_tokens=SPECIAL,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL[0], eos_token=SPECIAL[0], unk_token=SPECIAL[0],
                            model_max_length=LLAMA["max_position_embeddings"],
                            model_input_names=["input_ids", "attention_mask"]).save_pretrained(str(out))


def build_checkpoint(out: Path) -> Path:
    """The seeded model and its tokenizer (the benchmark itself feeds token ids, not text: the tokenizer is
    there because every exporter wants one)."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    build_tokenizer(tmp)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**LLAMA)).eval().save_pretrained(str(tmp))
    tmp.rename(out)
    return out


# --- the engines --------------------------------------------------------------------------------------------

def edgetool_build(target: str, precision: str, ckpt: Path, out: Path, extra: tuple = ()) -> list:
    # Random weights give near-flat logits: int4's error flips enough greedy tokens to fail the export's accuracy
    # floor (teacher-forced top-1), which says nothing about a trained model. Speed is measured here, so the
    # quantized bundles skip the check; fp32 keeps it.
    check = ["--no-parity-check"] if precision != "fp32" else []
    return [MAIN_PY, "-m", "edgetool", "export", "--task", "text-generation", "--model", ckpt, "--target", target,
            "--precision", precision, "--out", out, "--force", *check, *extra]


def genai_build(precision: str, ckpt: Path, out: Path) -> list:
    # -c: the builder's scratch folder (default ./cache_dir, in the caller's working directory)
    return [GENAI_PY, "-m", "onnxruntime_genai.models.builder", "-i", ckpt, "-o", out, "-p", precision, "-e", "cpu",
            "-c", out.parent / "genai-cache"]


def genai_on_edgetool_build(bundle: str, ckpt: Path, out: Path) -> list:
    """ONNX Runtime GenAI's Generator running an edgetool bundle's fused int4 graph (it has GenAI's inputs and
    outputs: input_ids, attention_mask, past_key_values.%d.* -> logits, present.%d.*): genai-int4's config and
    tokenizer beside a link to the graph. Against edgetool on the same graph it separates the graph's speed from
    the generation loop's. Needs genai-int4 and the bundle built first (list them before it in --engines)."""
    script = ("import shutil, sys, pathlib; src, graph, out = map(pathlib.Path, sys.argv[1:]); out.mkdir(); "
              "[shutil.copy(f, out) for f in src.iterdir() if f.name.startswith(('genai_config', 'tokenizer'))]; "
              "(out / 'model.onnx').symlink_to(graph.resolve(strict=True))")
    work = out.parent
    return [MAIN_PY, "-c", script, work / "genai-int4", work / bundle / "onnx" / "int4" / "decoder_fused.onnx", out]


def same_build(name: str, ckpt: Path, out: Path) -> list:
    """Another engine's build, linked (it runs under other settings: Engine.env). Built before it: list it first."""
    script = "import sys, pathlib; pathlib.Path(sys.argv[2]).symlink_to(pathlib.Path(sys.argv[1]).resolve(strict=True))"
    return [MAIN_PY, "-c", script, out.parent / name, out]


def optimum_build(ckpt: Path, out: Path) -> list:
    return [OPTIMUM_PY, "-m", "optimum.commands.optimum_cli", "export", "onnx", "--model", ckpt,
            "--task", "text-generation-with-past", out]


@dataclass(frozen=True)
class Engine:
    runner: str  # the worker's runner (llm_worker.RUNNERS)
    python: Path  # the environment that builds and runs it
    build: Callable[[Path, Path], list] | None = None  # (checkpoint, out) -> build command; None: the checkpoint
    options: dict = field(default_factory=dict)  # handed to the runner
    env: dict = field(default_factory=dict)  # set in its worker's environment


ENGINES = {
    # a quantized bundle keeps the portable fp32 ONNX beside its own artifact: the runner names the precision
    **{f"edgetool-ort-{p}": Engine("edgetool", MAIN_PY, partial(edgetool_build, "onnx", p),
                                   {"backend": "onnxruntime", "precision": p}) for p in ("fp32", "int8", "int4")},
    # the LM head at 4 bits too (edgetool's default keeps it at 8): the layout ONNX Runtime GenAI's int4 builds
    "edgetool-ort-int4-head4": Engine("edgetool", MAIN_PY, partial(edgetool_build, "onnx", "int4", extra=("--lm-head", "int4")),
                                      {"backend": "onnxruntime", "precision": "int4"}),
    # the KV cache in int8 (quantize/kv_cache.py: --kv-cache int8), scales calibrated on the built-in text
    **{f"edgetool-ort-{p}-kv8": Engine("edgetool", MAIN_PY, partial(edgetool_build, "onnx", p, extra=("--kv-cache", "int8")),
                                       {"backend": "onnxruntime", "precision": p}) for p in ("int8", "int4")},
    **{f"edgetool-ov-{p}": Engine("edgetool", MAIN_PY, partial(edgetool_build, "openvino", p),
                                  {"backend": "openvino", "precision": p}) for p in ("fp32", "int4")},
    # the int4 bundle with ONNX Runtime's weights left on 4 KB pages (runtime/backends/huge_pages.py)
    "edgetool-ort-int4-small-pages": Engine("edgetool", MAIN_PY, partial(same_build, "edgetool-ort-int4"),
                                            {"backend": "onnxruntime", "precision": "int4"},
                                            {"EDGETOOL_HUGE_PAGES": "0"}),
    "transformers-generate": Engine("transformers", MAIN_PY),
    "optimum-ort": Engine("optimum", OPTIMUM_PY, optimum_build),
    **{f"genai-{p}": Engine("genai", GENAI_PY, partial(genai_build, p)) for p in ("fp32", "int4")},
    "genai-on-edgetool-int4-head4": Engine("genai", GENAI_PY, partial(genai_on_edgetool_build, "edgetool-ort-int4-head4")),
}


def build(name: str, engine: Engine, ckpt: Path, work: Path) -> Path:
    """The engine's model folder, built once into the work folder (a failed build leaves nothing behind)."""
    if not engine.python.exists():
        raise Skip(f"{engine.python.parent.parent.name} is missing (make bench-llm-envs)")
    if engine.build is None:
        return ckpt
    out = work / name
    if out.exists():
        return out
    tmp, log = work / f"{name}.partial", work / f"{name}.build.log"
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"building {name} (minutes; log: {log})", flush=True)
    t = time.perf_counter()
    with open(log, "w") as f:
        done = subprocess.run([str(a) for a in engine.build(ckpt, tmp)], stdout=f, stderr=subprocess.STDOUT,
                              cwd=work, env=worker_env(None))
    if done.returncode:
        raise Skip(f"build failed ({log}): {tail(log.read_text())}")
    tmp.rename(out)
    print(f"built {name} in {time.perf_counter() - t:.0f} s", flush=True)
    return out


def tail(text: str, n: int = 300) -> str:
    return " | ".join(text.strip().splitlines()[-3:])[-n:]


def worker_env(threads: int | None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OPENBLAS_NUM_THREADS": "1"}  # the workers' NumPy work is an argmax: one BLAS thread
    if threads:  # OpenMP pools (torch) follow it; the engines get the count explicitly too
        env["OMP_NUM_THREADS"] = str(threads)
    return env


# --- measuring ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    prompt: int  # decode prompt
    new_tokens: int
    positions: tuple[int, ...]  # past lengths the decode step time is reported at
    prefill: int = 128
    prefill_repeats: int = 3


FULL = Plan(prompt=8, new_tokens=520, positions=(16, 128, 512))
QUICK = Plan(prompt=8, new_tokens=140, positions=(16, 128), prefill_repeats=1)
WINDOW = 2  # decode ms at position p: the median of the steps whose past is within p +- WINDOW


def run_worker(engine: Engine, model: Path, threads: int, plan: Plan, work: Path) -> dict:
    job = {"runner": engine.runner, "model": str(model), "threads": threads, "options": engine.options,
           "vocab": LLAMA["vocab_size"], "prompt": plan.prompt, "new_tokens": plan.new_tokens, "prefill": plan.prefill,
           "prefill_repeats": plan.prefill_repeats}
    done = subprocess.run([str(engine.python), str(WORKER), json.dumps(job)], capture_output=True, text=True,
                          cwd=work, env={**worker_env(threads), **engine.env}, timeout=1800)
    if done.returncode:
        raise Skip(f"worker failed: {tail(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_rounds(models: dict[str, Path], threads: list[int], rounds: int, plan: Plan, work: Path,
               skipped: dict[str, str]) -> dict[tuple[str, int], list[dict]]:
    """Every engine once per round and thread count, in a fresh process; the start rotates from round to round
    so no engine always runs first (or right after the heaviest one)."""
    runs: dict[tuple[str, int], list[dict]] = {}
    names = list(models)
    for r in range(rounds):
        for t in threads:
            for name in names[r % len(names):] + names[:r % len(names)]:
                if name in skipped:
                    continue
                try:
                    run = run_worker(ENGINES[name], models[name], t, plan, work)
                except (Skip, subprocess.TimeoutExpired) as e:  # one failure: the engine is out of this run
                    skipped[name] = str(e)
                    print(f"skipping {name}: {e}", flush=True)
                    continue
                runs.setdefault((name, t), []).append(run)
                print(f"round {r + 1}/{rounds}, {t} thread(s), {name}: prefill {run['prefill_ms']:.1f} ms, "
                      f"{run['tokens_per_s']:.1f} tokens/s", flush=True)
    return runs


def summarize(runs: list[dict], positions: tuple[int, ...]) -> dict:
    steps = [(run["first_past"] + i, ms) for run in runs for i, ms in enumerate(run["steps_ms"])]
    return {"prefill_ms": float(np.median([r["prefill_ms"] for r in runs])),
            "decode_ms": {p: float(np.median([ms for past, ms in steps if abs(past - p) <= WINDOW])) for p in positions},
            "tokens_per_s": float(np.median([r["tokens_per_s"] for r in runs])),
            "peak_rss_mb": float(np.median([r["peak_rss_mb"] for r in runs])), "size_mb": runs[0]["size_mb"],
            "rounds": len(runs),
            "versions": runs[0]["versions"]}


# --- the report ---------------------------------------------------------------------------------------------

# (precision, reference): each edgetool engine of that precision against the reference engine
RATIOS = [("fp32", "genai-fp32"), ("int4", "genai-int4"), ("int8", "transformers-generate")]


def fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or np.isnan(x) else f"{x:.{digits}f}"


def table(results: dict) -> list[str]:
    at = [f"@{p}" if i else f"decode ms @{p}" for i, p in enumerate((16, 128, 512))]
    lines = ["| engine | threads | prefill 128 (ms) | " + " | ".join(at) + " | 512/16 | tokens/s | peak RSS (MB) | size (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (name, t), s in results.items():
        d = s["decode_ms"]
        ms = [d.get(p) for p in (16, 128, 512)]
        growth = ms[2] / ms[0] if ms[0] and ms[2] else None
        lines.append(f"| {name} | {t} | {fmt(s['prefill_ms'])} | " + " | ".join(fmt(m, 2) for m in ms) +
                     f" | {fmt(growth, 2)} | {fmt(s['tokens_per_s'])} | {fmt(s['peak_rss_mb'], 0)} | {fmt(s['size_mb'], 0)} |")
    return lines


def ratio_lines(results: dict) -> list[str]:
    """Speed-ups (>1: the edgetool engine is faster): decode tokens/s and prefill time, same thread count."""
    lines = []
    for (name, t), s in results.items():
        for precision, ref in RATIOS:
            base = results.get((ref, t))
            # edgetool's engines (-head4 too), and GenAI's loop on an edgetool graph: the graph against GenAI's own
            if name.startswith(("edgetool-", "genai-on-edgetool-")) and f"-{precision}" in name and base:
                lines.append(f"- {name} vs {ref}, {t} thread(s): decode {s['tokens_per_s'] / base['tokens_per_s']:.2f}x, "
                             f"prefill {base['prefill_ms'] / s['prefill_ms']:.2f}x")
    return lines


def report(results: dict, skipped: dict, plan: Plan, rounds: int, quick: bool) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    versions = sorted({f"{k} {v}" for s in results.values() for k, v in s["versions"].items()})
    head = (f"# LLM decode speed ({time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, load {load}){' — --quick smoke run' if quick else ''}\n\n"
            f"SmolLM-135M-shaped Llama (random weights), batch 1, greedy; prefill: {plan.prefill}-token prompt; decode: "
            f"{plan.prompt}-token prompt + {plan.new_tokens} forced new tokens, ms per step at past length p "
            f"(median of steps within p±{WINDOW}); median of {rounds} round(s), engines interleaved, a fresh process each.\n")
    out = [head, *table(results), "", *ratio_lines(results)]
    out += [f"- skipped {name}: {why}" for name, why in skipped.items()]
    out += ["", "Versions: " + ", ".join(versions)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per engine and thread count (default 3; --quick 1)")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    ap.add_argument("--quick", action="store_true", help="smoke run: 140 new tokens, positions 16 and 128, one round")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / ".llm-work",
                    help="checkpoint and engine builds, reused when present")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if unknown := [n for n in names if n not in ENGINES]:
        ap.error(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    plan, rounds = (QUICK, args.rounds or 1) if args.quick else (FULL, args.rounds or 3)
    threads = [int(t) for t in args.threads.split(",")]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    ckpt = build_checkpoint(work / "smollm-135m-random")
    models, skipped = {}, {}
    for name in names:
        try:
            models[name] = build(name, ENGINES[name], ckpt, work)
        except Skip as e:
            skipped[name] = str(e)
            print(f"skipping {name}: {e}", flush=True)
    runs = run_rounds(models, threads, rounds, plan, work, skipped)
    results = {key: summarize(r, plan.positions) for key, r in sorted(runs.items(), key=lambda kv: (kv[0][1], names.index(kv[0][0])))}
    print("\n" + report(results, skipped, plan, rounds, args.quick))
    if args.json:
        args.json.write_text(json.dumps({"plan": plan.__dict__, "rounds": rounds, "skipped": skipped,
                                         "results": [{"engine": n, "threads": t, **s} for (n, t), s in results.items()],
                                         "runs": {f"{n}@{t}": r for (n, t), r in runs.items()}}, indent=1))


if __name__ == "__main__":
    main()
