"""`edgetool triton` writes a repository; `edgetool serve` starts a real server, prints its endpoints and
stops it cleanly on Ctrl-C (SIGINT)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from cli_invoke import invoke_cli


def test_triton_command_writes_the_repository(bundle_dir, tmp_path):
    result = invoke_cli("triton", bundle_dir("text-classification"), "--repo", tmp_path, "--max-batch", "2")
    assert result.exit_code == 0, result.output
    assert "text-classification.model.onnxruntime" in result.output
    assert (tmp_path / "text-classification" / "1" / "model.py").is_file()
    assert "max_batch_size: 2" in (tmp_path / "text-classification" / "config.pbtxt").read_text()


def test_serve_prints_endpoints_and_ctrl_c_stops_it(bundle_dir, serve_env):
    proc = subprocess.Popen([sys.executable, "-m", "edgetool", "serve", str(bundle_dir("text-classification")),
                             "--port", "0", "--python", str(serve_env.python), "--instances", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # bounded: the server is ready within the deadline or the test fails
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        http = next(line.split()[1] for line in lines if line.startswith("HTTP"))
        with urllib.request.urlopen(f"{http}/v2/models/text-classification/ready", timeout=10) as r:
            assert r.status == 200
        assert any(line.startswith("gRPC") for line in lines) and any("metrics" in line for line in lines)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, "".join(lines) + out
    assert "Server stopped." in out
