"""Against a real Triton server: answers over HTTP and gRPC equal the in-process pipeline, 16 concurrent
clients x 50 requests are all correct, malformed requests get a Triton error and the model lives on, and
a tampered bundle refuses to load."""
from __future__ import annotations

import pytest

TASKS = {"text-classification": "text-classification", "object-detection": "object-detection",
         "automatic-speech-recognition": "automatic-speech-recognition"}


@pytest.mark.parametrize("task", list(TASKS))
def test_http_and_grpc_answer_like_the_pipeline(served, remote, task):
    bundle, repo, server = served(task)
    report = remote("parity", bundle, repo.pipeline_model, server)
    rows = report["rows"]
    assert {r["protocol"] for r in rows} == {"http", "grpc"} and len(rows) >= 2
    bad = [r for r in rows if not r["equal"]]
    assert not bad, bad[:3]
    typed = {"text-classification": ["JSON", "LABELS", "SCORES"], "object-detection": ["BOXES", "JSON", "LABELS", "SCORES"],
             "automatic-speech-recognition": ["JSON", "TEXT"]}[task]
    assert all(r["typed"] == typed for r in rows)
    if task == "object-detection":
        assert {r["encoded"] for r in rows} == {False, True}  # UINT8 HWC and encoded PNG bytes


def test_16_clients_x_50_requests_all_correct(served, remote):
    bundle, repo, server = served("text-classification", instances=2)
    report = remote("load", bundle, repo.pipeline_model, server, 16, 50)
    assert report["n_errors"] == 0, report["errors"]
    assert report["wrong"] == 0 and report["ok"] == 16 * 50 and not report["alive"]
    assert server.alive()


@pytest.mark.parametrize("task", list(TASKS))
def test_malformed_requests_get_errors_and_the_model_lives(served, remote, task):
    bundle, repo, server = served(task)
    report = remote("malformed", bundle, repo.pipeline_model, server)
    answered = {k: v for k, v in report.items() if not k.endswith("/after") and not v.startswith("InferenceServerException")}
    assert not answered, answered
    assert report["http/after"] == "ok" and report["grpc/after"] == "ok"
    if "http/bad bytes" in report:  # the message says what was wrong with the bytes
        assert "utf-8" in report["http/bad bytes"] or "corrupt" in report["http/bad bytes"]
    assert server.alive()


def test_a_tampered_bundle_refuses_to_load(bundle_dir, serve_env, tmp_path):
    from edgetool.serve.repository import RepositoryOptions, write_repository
    from edgetool.serve.server import ServeError, start

    repo = write_repository(bundle_dir("text-classification"), tmp_path, RepositoryOptions(graphs=False))
    onnx = next((tmp_path / repo.pipeline_model / "1" / "bundle").rglob("*.onnx"))
    data = bytearray(onnx.read_bytes())
    data[-10] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ServeError) as err:
        start(repo.root, [repo.pipeline_model], python=str(serve_env.python), timeout=120).stop()
    assert "sha256" in str(err.value) and repo.pipeline_model in str(err.value)


def _cli_in_serve_env(serve_env, *argv, timeout=300):
    """`edgetool ARGV` in the serving environment (it has tritonclient; the test environment does not)."""
    import subprocess

    return subprocess.run([str(serve_env.python), "-m", "edgetool", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def test_validate_server_checks_the_served_answers(served, serve_env, tmp_path):
    import hashlib
    import json
    import shutil

    bundle, repo, server = served("text-classification")
    r = _cli_in_serve_env(serve_env, "validate", bundle, "--server", server.http_url, "--served-model",
                          repo.pipeline_model, "--junit", tmp_path / "served.xml", "--json", tmp_path / "served.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PARITY OK" in r.stdout and "answers equal" in r.stdout
    assert "<testsuite" in (tmp_path / "served.xml").read_text()
    assert json.loads((tmp_path / "served.json").read_text())[0]["passed"] is True
    # a golden answer that the server does not give (as when the served runtime changed): exit 1, sample named
    changed = tmp_path / "changed"
    shutil.copytree(bundle, changed)
    samples = changed / "golden" / "samples.json"
    doc = json.loads(samples.read_text())
    first = doc["results"][0]
    row = first[0] if isinstance(first, list) else first
    row["label"] = "Z" + row["label"]
    samples.write_text(json.dumps(doc))
    manifest = json.loads((changed / "edgetool.json").read_text())
    manifest["files"]["golden/samples.json"] = hashlib.sha256(samples.read_bytes()).hexdigest()
    (changed / "edgetool.json").write_text(json.dumps(manifest))
    from edgetool.bundle_writer import write_manifest_digest

    write_manifest_digest(changed)  # a consistent bundle whose golden answers differ from what is served
    r = _cli_in_serve_env(serve_env, "validate", changed, "--server", f"grpc://{server.grpc_url}", "--served-model",
                          repo.pipeline_model)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "PARITY FAILED" in r.stdout and "first difference: sample 0" in r.stdout


def test_bench_server_reports_each_concurrency_level(served, serve_env):
    bundle, repo, server = served("text-classification")
    r = _cli_in_serve_env(serve_env, "bench", bundle, "--server", server.http_url, "--served-model",
                          repo.pipeline_model, "--concurrency", "1,4", "--requests", "40")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[2:] if line.strip()}
    assert set(rows) >= {"in-process", "1", "4"}
    assert rows["4"][1] == "40" and rows["4"][2] == "0"  # 40 requests, no errors
    assert float(rows["4"][3]) > 0  # requests per second


def test_generation_streams_its_text_over_grpc(served, remote):
    bundle, repo, server = served("text-generation", stream=True)
    report = remote("stream", bundle, repo.pipeline_model, server)
    streamed = [r for r in report["rows"] if "pieces" in r]
    assert streamed
    for row in streamed:
        assert row["pieces"] == row["local_pieces"] and row["pieces"]  # piece by piece, as in process
        assert row["result"] == row["local_result"]  # then the whole answer
    for row in report["rows"]:
        if "beam_error" in row:  # beam search cannot stream: an error that says so, and the next request works
            assert row["beam_error"] and "beam search" in row["beam_error"]
    assert server.alive()
