"""The export log: library output goes to export.log, the terminal shows the steps, and a failed export
names the graph, the exporter's root cause and where its log is."""
from __future__ import annotations

import json
import logging
import warnings

from cli_invoke import invoke_cli


def _planted_chatter(monkeypatch):
    """torch's exporter and friends warn, log and print while exporting: plant all three."""
    import edgetool.export.onnx_export as onnx_export

    real = onnx_export.read_graph_spec

    def chatty(path, name):
        warnings.warn("torchvision is not installed. Skipping torchvision::nms", stacklevel=2)
        logging.getLogger("torch.onnx").warning("planted log record")
        print("[torch.onnx] Obtain model graph ... ❌")
        return real(path, name)

    monkeypatch.setattr(onnx_export, "read_graph_spec", chatty)


def test_library_output_goes_to_the_log_not_the_terminal(tmp_path, monkeypatch):
    _planted_chatter(monkeypatch)
    r = invoke_cli("export", "--task", "classify", "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output
    for chatter in ("torchvision", "planted log record", "Obtain model graph"):
        assert chatter not in r.output
    assert "[2/6] trace 1 graph(s) to ONNX" in r.output
    log = (tmp_path / "b" / "export.log").read_text()
    for chatter in ("torchvision is not installed", "planted log record", "Obtain model graph"):
        assert chatter in log
    manifest = json.loads((tmp_path / "b" / "edgetool.json").read_text())
    assert "export.log" in manifest["files"]  # hashed like every other file


def test_an_exporter_failure_names_graph_root_cause_and_log(tmp_path, monkeypatch):
    import torch

    def fail(*a, **k):
        try:
            raise RuntimeError("Unsupported: aten::planted_op has no symbolic for opset 17\nmore detail")
        except RuntimeError as inner:
            raise ValueError("Failed to export the model with torch.export. This is step 1/3 ... Next steps:") \
                from inner

    monkeypatch.setattr(torch.onnx, "export", fail)
    r = invoke_cli("export", "--task", "classify", "--out", tmp_path / "b")
    assert r.exit_code == 2, r.output
    line = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(line) == 1, r.output
    assert "graph 'model'" in line[0] and "RuntimeError: Unsupported: aten::planted_op" in line[0]
    assert "step 1/3" not in line[0]
    log_path = line[0].rsplit("The export's log: ", 1)[1].strip()
    assert "planted_op" in open(log_path).read()  # the whole traceback is in the kept log
    assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())  # nothing half-written
