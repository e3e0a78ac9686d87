"""`edgetool bench`: what it reports and how it fails. Only structure and sanity are asserted here —
timings belong in benchmarks/, never in tests."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cli_invoke import invoke_cli as run

TASK = "text-classification"
ROW_KEYS = {"name", "backend", "precision", "size_mb", "cold_start_s", "import_s", "load_s", "first_s", "process_s",
            "peak_rss_mb", "latency_ms", "throughput_per_s", "engine_ms_p50", "overhead_pct", "overhead_ms_p50", "latencies_ms",
            "speedup_vs_first"}


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return bundle_dir(TASK, target="openvino")


def test_bench_side_by_side_json(bundle, tmp_path):
    out = tmp_path / "bench.json"
    r = run("bench", bundle, "--runs", "3", "--warmup", "1", "--json", out, "--plot", tmp_path / "lat.png")
    assert r.exit_code == 0, r.output
    assert "onnxruntime/fp32" in r.output and "openvino/fp32" in r.output and "p50 ms" in r.output
    rep = json.loads(out.read_text())
    assert {"bundle", "task", "date", "machine", "options", "input", "results", "baseline"} <= set(rep)
    assert rep["task"] == TASK and rep["machine"]["cores"] >= 1 and rep["machine"]["cpu"]
    assert rep["options"] == {**rep["options"], "batch": 1, "runs": 3, "warmup": 1}
    assert [row["name"] for row in rep["results"]] == ["onnxruntime/fp32", "openvino/fp32"]
    for row in rep["results"]:
        assert ROW_KEYS <= set(row), ROW_KEYS - set(row)
        lat = row["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert len(row["latencies_ms"]) == 3
        assert row["size_mb"] > 0 and row["peak_rss_mb"] > 10 and row["cold_start_s"] > 0
        assert row["cold_start_s"] == pytest.approx(row["import_s"] + row["load_s"] + row["first_s"])
        assert row["process_s"] > row["cold_start_s"]
        # overhead is paired per call: never negative (a call contains its engine calls)
        assert 0 <= row["overhead_ms_p50"] <= lat["max"]
        assert row["overhead_pct"] == pytest.approx(100 * row["overhead_ms_p50"] / row["engine_ms_p50"])
    assert rep["results"][0]["speedup_vs_first"] == 1.0
    assert (tmp_path / "lat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_selected_groups_batch_and_torch_baseline(bundle, tmp_path):
    out = tmp_path / "bench.json"
    r = run("bench", bundle, "--backend", "openvino", "--precision", "fp32", "--batch", "4", "--runs", "3",
            "--warmup", "1", "--against", "torch", "--no-cold-start", "--threads", "1", "-q", "--json", out)
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert [row["name"] for row in rep["results"]] == ["openvino/fp32", "torch/eager"]
    assert rep["input"].startswith("golden sample 0: 4 x 'I love this'")
    for row in rep["results"]:
        assert row["speedup_vs_torch"] > 0 and "cold_start_s" not in row
        assert row["throughput_per_s"] == pytest.approx(4000 / row["latency_ms"]["mean"])
    assert rep["results"][1]["speedup_vs_torch"] == 1.0


@pytest.mark.parametrize("argv,needle", [
    (["--runs", "0"], "--runs must be >= 1"),
    (["--backend", "tensorrt", "--precision", "fp32"], "cannot run tensorrt/fp32"),
    (["--precision", "int8"], "Nothing to bench"),
    (["--against", "onnx/fp32"], "only 'torch'"),
    (["--plot", "lat.jpg"], "PNG"),
    (["--max-new-tokens", "5"], "does not apply"),
])
def test_bench_usage_errors(bundle, argv, needle):
    r = run("bench", bundle, "--runs", "1", "--warmup", "0", "--no-cold-start", *argv)
    assert r.exit_code == 2 and needle in r.output, r.output


def test_task_extras_hooks():
    """Generation and audio extras come from the engine-call log and the input, not from the task's code."""
    from edgetool.bench.measure import BENCH_METRICS, CallLog
    from edgetool.check.golden import Sample

    hooks = {h.name: h for h in BENCH_METRICS}
    log = CallLog(0.0, [("encoder", 0.0, 0.010), ("decoder", 0.010, 0.020), ("decoder", 0.020, 0.025),
                        ("decoder", 0.025, 0.030)])
    gen = hooks["generation"].compute(Sample(["hi"]), log, 0.040, 1)
    assert gen["time_to_first_token_ms"] == pytest.approx(20.0)
    assert gen["new_tokens"] == 3 and gen["tokens_per_s"] == pytest.approx(75.0)
    assert gen["decode_tokens_per_s"] == pytest.approx(200.0)
    wave = np.zeros(32000, np.float32)  # 2 s at 16 kHz
    asr = hooks["audio"].compute(Sample([[wave, wave]]), CallLog(0.0), 0.5, 2)
    assert asr["audio_s"] == 4.0 and asr["real_time_factor"] == pytest.approx(0.125)


def test_torch_baseline_takes_our_generation_options_for_image_to_text(bundle_dir):
    """`bench --against torch` replays our bench sample on the transformers pipeline: image-to-text takes
    do_sample/num_beams only inside generate_kwargs there, so the call is adapted, and answers as ours does."""
    from edgetool.export.torch_pipeline import checkpoint_of, make_pipeline, transformers_call
    from edgetool.runtime import pipeline
    from edgetool.runtime.bundle import Bundle
    from edgetool.check.golden import Sample

    path = bundle_dir("image-to-text", target="openvino")
    picture = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    sample = Sample([picture], {"max_new_tokens": 6, "do_sample": False, "num_beams": 2})
    args, kwargs = transformers_call("image-to-text", sample)
    assert kwargs == {"max_new_tokens": 6, "generate_kwargs": {"do_sample": False, "num_beams": 2}}
    theirs = make_pipeline("image-to-text", checkpoint_of(Bundle.load(path)))(*args, **kwargs)
    assert theirs == pipeline(path)(picture, **sample.kwargs)
