"""Checks run INSIDE the serving environment (it has tritonclient; the test environment does not):
    python remote_checks.py CHECK BUNDLE MODEL HTTP_URL GRPC_URL [ARGS...]  -> one JSON report on stdout.
The pytest side (test_server.py) starts the server, runs this, and asserts on the report."""
from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np

from edgetool.check import golden as golden_io
from edgetool.check.golden import to_jsonable
from edgetool.runtime import pipeline
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.tasks import get_task
from edgetool.serve.client import Client
from edgetool.serve.remote import close as answers_close


def close(a, b, rtol=1e-5, atol=1e-6) -> bool:
    """Equal answers: same structure and strings, numbers within float32 engine noise."""
    return answers_close(a, b, rtol, atol)


def setup(bundle_dir):
    bundle = Bundle.load(bundle_dir)
    golden = golden_io.load(bundle)
    # one item per request: a golden call on a list of items becomes one sample per item
    golden.samples = [golden_io.Sample([x], s.kwargs) for s in golden.samples
                      for x in (s.args[0] if isinstance(s.args[0], list) else [s.args[0]])]
    pipe = pipeline(bundle)
    kind = get_task(bundle.task).input_kind
    expected = [to_jsonable(pipe(*s.args, **s.kwargs)) for s in golden.samples]
    return bundle, golden, kind, expected


def parity(bundle_dir, model, http, grpc):
    bundle, golden, kind, expected = setup(bundle_dir)
    rows = []
    for proto, url in (("http", http), ("grpc", grpc)):
        client = Client(url, model, proto)
        for i, s in enumerate(golden.samples):
            variants = [False, True] if kind == "image" else [False]  # images: raw HWC and encoded PNG
            for enc in variants:
                got, typed = client(kind, s.args[0], s.kwargs, encode_images=enc)
                rows.append({"protocol": proto, "sample": i, "encoded": enc, "equal": close(got, expected[i]),
                             "exact": got == expected[i], "got": got, "expected": expected[i],
                             "typed": sorted(typed)})
        client.close()
    return {"task": bundle.task, "rows": rows}


def load(bundle_dir, model, http, grpc, clients="16", requests="50"):
    bundle, golden, kind, expected = setup(bundle_dir)
    n_clients, n_req = int(clients), int(requests)
    lock = threading.Lock()
    stats = {"ok": 0, "wrong": 0, "errors": [], "latencies": []}

    def worker(w):
        proto = "grpc" if w % 2 else "http"  # both protocols under load at once
        client = Client(grpc if proto == "grpc" else http, model, proto)
        for r in range(n_req):  # bounded: exactly n_req requests per client
            i = (w + r) % len(golden.samples)
            s = golden.samples[i]
            t0 = time.perf_counter()
            try:
                got, _ = client(kind, s.args[0], s.kwargs)
                good = close(got, expected[i])
                with lock:
                    stats["ok" if good else "wrong"] += 1
                    stats["latencies"].append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                with lock:
                    stats["errors"].append(f"{type(e).__name__}: {e}"[:300])
        client.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    lat = np.asarray(stats.pop("latencies") or [0.0]) * 1000
    return {**stats, "errors": stats["errors"][:10], "n_errors": len(stats["errors"]), "wall_s": wall,
            "throughput": (stats["ok"] + stats["wrong"]) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "alive": [t.name for t in threads if t.is_alive()]}


def malformed(bundle_dir, model, http, grpc):
    bundle, golden, kind, expected = setup(bundle_dir)
    first = {"text": "TEXT", "image": "IMAGE", "audio": "AUDIO"}[kind]
    cases = {
        "wrong dtype": {first: np.zeros((1, 4), np.int64)},
        "empty batch": {first: np.zeros((0, 1), object) if kind != "audio" else np.zeros((0, 16), np.float32)},
        "missing input": {"OPTIONS": np.asarray([[b"{}"]], object)},
        "bad options json": {**_good(kind, golden), "OPTIONS": np.asarray([[b"{not json"]], object)},
        "unknown option": {**_good(kind, golden), "OPTIONS": np.asarray([[b'{"no_such_option": 1}']], object)},
        "remote save": {**_good(kind, golden), "OPTIONS": np.asarray([[b'{"save": "/tmp/x"}']], object)},
    }
    if kind == "image":
        cases["bad bytes"] = {"IMAGE": np.asarray([[b"\x89PNG not really an image"]], object)}
        cases["oversized"] = {"IMAGE_HWC": np.zeros((1, 4000, 4000, 3), np.uint8)}
        cases["both images"] = {**_good(kind, golden), "IMAGE": np.asarray([[b"x"]], object)}
    elif kind == "text":
        cases["bad bytes"] = {"TEXT": np.asarray([[b"\xff\xfe\xfa"]], object)}
        cases["oversized"] = {"TEXT": np.asarray([[b"word " * (4 << 20)]], object)}
    else:
        cases["bad rate"] = {**_good(kind, golden), "SAMPLING_RATE": np.asarray([[-5]], np.int32)}
        cases["oversized"] = {"AUDIO": np.zeros((1, 5 << 20), np.float32)}
        cases["nan audio"] = {"AUDIO": np.full((1, 1600), np.nan, np.float32)}
    out = {}
    for proto, url in (("http", http), ("grpc", grpc)):
        client = Client(url, model, proto)
        for name, tensors in cases.items():
            try:
                client.infer_tensors(tensors, ["JSON"])
                out[f"{proto}/{name}"] = "ANSWERED"
            except Exception as e:  # noqa: BLE001 — expected: a Triton error
                out[f"{proto}/{name}"] = f"{type(e).__name__}: {e}"[:400]
        got, _ = client(kind, golden.samples[0].args[0], golden.samples[0].kwargs)  # the model is still alive
        out[f"{proto}/after"] = "ok" if close(got, expected[0]) else f"WRONG {got}"
        client.close()
    return out


def streamed(bundle_dir, model, http, grpc):
    """Every golden sample through the decoupled model over gRPC streaming vs the in-process pipeline.stream."""
    from edgetool.serve.client import stream

    bundle, golden, kind, expected = setup(bundle_dir)
    pipe = pipeline(bundle)
    rows = []
    for i, s in enumerate(golden.samples):
        if s.kwargs.get("num_beams", 1) > 1:  # beam search does not stream: the server must say so, and live on
            try:
                list(stream(grpc, model, kind, s.args[0], s.kwargs))
                rows.append({"sample": i, "beam_error": None})
            except Exception as e:  # noqa: BLE001
                rows.append({"sample": i, "beam_error": str(e)})
            continue
        local_pieces, local_result = _drain(pipe.stream(*s.args, **s.kwargs))
        served, result = _drain(stream(grpc, model, kind, s.args[0], s.kwargs))
        rows.append({"sample": i, "pieces": served, "local_pieces": local_pieces, "result": result,
                     "local_result": to_jsonable(local_result)})
    return {"rows": rows}


def _drain(gen) -> tuple[list, object]:
    """(the pieces a generator yields, the value it returns)."""
    pieces = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as done:
            return pieces, done.value


def _good(kind, golden):
    from edgetool.serve.client import sample_tensors

    s = golden.samples[0]
    return {k: v for k, v in sample_tensors(kind, s.args[0], s.kwargs).items() if k != "OPTIONS"}


if __name__ == "__main__":
    check, *args = sys.argv[1:]
    print(json.dumps({"parity": parity, "load": load, "malformed": malformed, "stream": streamed}[check](*args), default=str))
