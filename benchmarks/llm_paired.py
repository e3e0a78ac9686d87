"""Paired decode timing: two LLM engines (or one engine at two context lengths) decoding in turns.

benchmarks/llm_speed.py runs each engine in a fresh process, one after another, so two engines' steps are
measured seconds to minutes apart. On a shared machine the load moves a step's time by more than the targets'
5 % in that time (benchmarks/README.md, "how far one run can be trusted"). Here both processes are loaded and
warm and take turns (the waiting one blocked on a pipe: llm_worker.Stamps), so the noise of each moment falls on
both sides of a pair of turns alike.

A turn is one decode of 24 forced tokens from the side's prompt (its forward runs before the turn); the first
8 steps of a turn are dropped: after the other process's turn they run up to twice as long (its ONNX Runtime
threads still spinning, caches cold) and that cost belongs to the pairing, not to either engine. Each pair of
turns gives the ratio of the two sides' median step times over the remaining 15; the result is the median of
those ratios. The prompt length p - 15 puts the kept steps' past at p - 7 .. p + 7.

    engine vs engine   A:B  both at past 16, 128 and 512: A's time / B's
    context growth     E    E at past 512 against E at past 16: the 512/16 of the targets

Engines and their builds are llm_speed.py's (the same work folder; missing builds are made first). Usage:
    .venv/bin/python benchmarks/llm_paired.py [--threads 1,2] [--rounds 2] [--turns 6] [--pairs A:B,...]
        [--growth E,...] [--work benchmarks/.llm-work] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_speed import ENGINES, LLAMA, WORKER, Skip, build, build_checkpoint, fmt, tail, worker_env  # noqa: E402

PAIRS = ["edgetool-ort-int4:genai-int4", "edgetool-ort-fp32:genai-fp32",
         # the same graph under both loops: what the NumPy runtime's loop costs against GenAI's C++ one
         "edgetool-ort-int4-head4:genai-on-edgetool-int4-head4",
         # the same bundle on 2 MB and on 4 KB pages (runtime/backends/huge_pages.py)
         "edgetool-ort-int4:edgetool-ort-int4-small-pages",
         # the int4 bundle with its KV cache in int8 (quantize/kv_cache.py)
         "edgetool-ort-int4-kv8:genai-int4"]
GROWTH = ["edgetool-ort-int4", "edgetool-ort-int8", "edgetool-ort-fp32", "edgetool-ort-int4-kv8", "genai-int4",
          "genai-fp32"]
POSITIONS = (16, 128, 512)
NEW_TOKENS, DROP = 24, 8  # per turn; steps dropped at the start of a turn


@dataclass(frozen=True)
class Side:
    engine: str
    past: int  # the kept steps' past is centred here

    def __str__(self) -> str:
        return f"{self.engine}@{self.past}"

    @property
    def prompt(self) -> int:
        return self.past - (DROP + (NEW_TOKENS - 1 - DROP) // 2)


def jobs(pairs: list[tuple[str, str]], grown: list[str]) -> list[tuple[Side, Side]]:
    """Engine against engine at every position, then each growth engine at 512 against itself at 16."""
    return [(Side(a, p), Side(b, p)) for a, b in pairs for p in POSITIONS] + [(Side(e, 512), Side(e, 16)) for e in grown]


class Worker:
    """One llm_worker process, stopped at its first turn (loaded, warmed up, the prompt's forward run)."""

    def __init__(self, side: Side, model: Path, threads: int, turns: int, work: Path):
        engine = ENGINES[side.engine]
        job = {"runner": engine.runner, "model": str(model), "threads": threads, "options": engine.options,
               "vocab": LLAMA["vocab_size"], "prompt": side.prompt, "new_tokens": NEW_TOKENS, "prefill": 1,
               "prefill_repeats": 0, "turns": turns}
        self.name, self.err = side.engine, tempfile.TemporaryFile("w+")  # a file: a full stderr pipe would hang it
        self.proc = subprocess.Popen([str(engine.python), str(WORKER), json.dumps(job)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, cwd=work,
                                     env={**worker_env(threads), **engine.env})
        self.result: dict | None = None
        self._expect_ready()

    def _expect_ready(self) -> None:
        line = self.proc.stdout.readline()
        if line.startswith("{"):
            self.result = json.loads(line)
            self.proc.wait()
        elif line.strip() != "ready":
            self.proc.kill()
            self.err.seek(0)
            raise Skip(f"{self.name}: worker failed: {tail(self.err.read())}")

    def turn(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self._expect_ready()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.err.close()


def take_turns(sides: tuple[Side, Side], models: dict[str, Path], threads: int, turns: int, work: Path) -> list[dict]:
    """Both workers started (one after the other, each left waiting at its first turn), then turns A, B, A, B...
    until both have decoded all their tokens; their results in the order of `sides`."""
    workers: list[Worker] = []
    try:
        for side in sides:
            workers.append(Worker(side, models[side.engine], threads, turns, work))
        while any(w.result is None for w in workers):
            for w in workers:
                if w.result is None:
                    w.turn()
        return [w.result for w in workers]
    finally:
        for w in workers:
            w.close()


def turn_ratios(a: dict, b: dict) -> list[tuple[float, float, float]]:
    """(A's median ms, B's median ms, A/B) per pair of turns, the first DROP steps of each left out."""
    out = []
    for ta, tb in zip(a["turns_ms"], b["turns_ms"]):
        ma, mb = float(np.median(ta[DROP:])), float(np.median(tb[DROP:]))
        out.append((ma, mb, ma / mb))
    return out


def summarize(rounds: list[list[tuple]]) -> dict:
    turns = [t for r in rounds for t in r]
    return {"ms_a": float(np.median([t[0] for t in turns])), "ms_b": float(np.median([t[1] for t in turns])),
            "ratio": float(np.median([t[2] for t in turns])), "turns": len(turns),
            "per_round": [float(np.median([t[2] for t in r])) for r in rounds]}


def report(results: dict, skipped: dict, rounds: int, turns: int) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out = [f"# LLM decode, paired turns ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {load})\n",
           f"SmolLM-135M-shaped Llama (random weights), batch 1, greedy; {rounds} round(s) of {turns} turns a side, a "
           f"fresh pair of processes each (the side that starts alternating); per turn the median of steps "
           f"{DROP + 1}-{NEW_TOKENS - 1} of a {NEW_TOKENS}-token decode; ratio: the median over pairs of turns of A / B "
           "(<1: A is faster); per round: the median over that round's pairs.\n",
           "| A | B | threads | ms A | ms B | A / B | pairs | per round |", "|---|---|---|---|---|---|---|---|"]
    for (a, b, t), s in results.items():
        out.append(f"| {a} | {b} | {t} | {fmt(s['ms_a'], 2)} | {fmt(s['ms_b'], 2)} | {fmt(s['ratio'], 3)} | {s['turns']} | "
                   f"{', '.join(fmt(r, 3) for r in s['per_round'])} |")
    out += ["", *[f"- skipped {name}: {why}" for name, why in skipped.items()]]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=2, help="fresh pairs of processes per pair and thread count")
    ap.add_argument("--turns", type=int, default=6, help="turns a side per round")
    ap.add_argument("--pairs", default=",".join(PAIRS), help="A:B engine pairs, comma-separated ('' for none)")
    ap.add_argument("--growth", default=",".join(GROWTH), help="engines for the 512/16 pair, comma-separated")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / ".llm-work",
                    help="checkpoint and engine builds (llm_speed.py's), reused when present")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p.strip()]
    grown = [e.strip() for e in args.growth.split(",") if e.strip()]
    if bad := [p for p in pairs if len(p) != 2]:
        ap.error(f"--pairs takes A:B items, got {bad}")
    names = list(dict.fromkeys([e for p in pairs for e in p] + grown))
    if unknown := [n for n in names if n not in ENGINES]:
        ap.error(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    threads = [int(t) for t in args.threads.split(",")]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    ckpt = build_checkpoint(work / "smollm-135m-random")
    models, skipped = {}, {}
    for name in names:  # in order: genai-on-edgetool-* needs its bundle and genai-int4 built before it
        try:
            models[name] = build(name, ENGINES[name], ckpt, work)
        except Skip as e:
            skipped[name] = str(e)
            print(f"skipping {name}: {e}", flush=True)
    raw: dict[tuple, list] = {}  # (A, B, threads) -> per round: (A ms, B ms, A / B) per pair of turns
    for r in range(args.rounds):
        for t in threads:
            for sides in jobs(pairs, grown):
                key, label = (str(sides[0]), str(sides[1]), t), f"{sides[0]} / {sides[1]}"
                if label in skipped or any(s.engine in skipped for s in sides):
                    continue
                ordered = sides if r % 2 == 0 else sides[::-1]
                try:
                    res = take_turns(ordered, models, t, args.turns, work)
                except Skip as e:  # one failure: the pair is out of this run
                    skipped[label] = str(e)
                    print(f"skipping {label}: {e}", flush=True)
                    continue
                ratios = turn_ratios(*(res if r % 2 == 0 else res[::-1]))
                raw.setdefault(key, []).append(ratios)
                print(f"round {r + 1}/{args.rounds}, {t} thread(s), {label}: "
                      f"{np.median([x[2] for x in ratios]):.3f}", flush=True)
    results = {k: summarize(v) for k, v in raw.items()}
    print("\n" + report(results, skipped, args.rounds, args.turns))
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "turns": args.turns, "skipped": skipped,
                                         "results": [{"a": a, "b": b, "threads": t, **s} for (a, b, t), s in results.items()],
                                         "pairs_of_turns": {f"{a} / {b} @{t}": v for (a, b, t), v in raw.items()}},
                                        indent=1))


if __name__ == "__main__":
    main()
