"""The device runtime never imports torch, transformers or onnx — checked in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from edgetool.runtime.tasks import all_tasks

HEAVY = ("torch", "transformers", "onnx", "onnxscript", "nncf")

SCRIPT = """
import sys, json
from edgetool.runtime import pipeline
out = {}
for backend in ("onnxruntime", "openvino"):
    clf = pipeline(sys.argv[1], backend=backend)
    out[backend] = clf("I love this")
from edgetool.runtime.bundle import Bundle
from edgetool.check.validate import ValidateOptions, validate_bundle
out["validate"] = all(r["passed"] for r in validate_bundle(Bundle.load(sys.argv[1]), ValidateOptions()))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx", "onnxscript", "nncf"))
print(json.dumps({"heavy": heavy, "out": out}))
"""


@pytest.mark.parametrize("task", ["text-classification"])
def test_runtime_never_imports_torch(bundle_dir, task):
    bundle = bundle_dir(task, target="openvino")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(bundle)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["out"]["validate"] is True
    assert result["out"]["onnxruntime"][0]["label"] == result["out"]["openvino"][0]["label"]


TRT_SCRIPT = """
import sys, json
from edgetool import doctor
from edgetool.runtime import pipeline
from edgetool.runtime.backends.tensorrt import bundle_build as trt_bundle
from edgetool.runtime.backends.tensorrt.backend import TensorRTBackend
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import EngineMissingError
b = Bundle.load(sys.argv[1])
plans = trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions(shapes="input_ids=1x8,1x16,2x32"))
rows = doctor.doctor()
try:
    pipeline(b, backend="tensorrt")("I love this")
    outcome = "ran"
except EngineMissingError as e:
    outcome = str(e)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx", "onnxscript", "nncf"))
print(json.dumps({"heavy": heavy, "plans": len(plans), "rows": len(rows), "outcome": outcome}))
"""


def test_tensorrt_path_never_imports_torch(bundle_dir):
    """The TensorRT backend, the device-side build plan and doctor stay on the runtime's imports."""
    bundle = bundle_dir("text-classification", target="trt")
    proc = subprocess.run([sys.executable, "-c", TRT_SCRIPT, str(bundle)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["plans"] == 1 and result["rows"] >= 10
    assert result["outcome"] == "ran" or "TensorRT cannot run on this machine" in result["outcome"]


# Every implemented task: load its bundle, answer its first golden sample (recorded at export), and
# list what got imported. The golden reader moves with the tooling; either home is fine here.
TASK_SCRIPT = """
import json, sys
from edgetool.runtime import pipeline
from edgetool.runtime.bundle import Bundle
try:
    from edgetool.check import golden
except ImportError:
    from edgetool.runtime import golden
bundle = Bundle.load(sys.argv[1])
sample = golden.load(bundle).samples[0]
result = golden.to_jsonable(pipeline(bundle)(*sample.args, **sample.kwargs))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in json.loads(sys.argv[2]))
print(json.dumps({"heavy": heavy, "task": bundle.task, "answered": result not in (None, [], {}, "")}))
"""


@pytest.mark.parametrize("task", [t.name for t in all_tasks() if t.implemented])
def test_every_task_runs_without_torch(bundle_dir, task):
    """Exported here (the session's shared bundle); loaded and run in a fresh interpreter."""
    bundle = bundle_dir(task, target="openvino")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", TASK_SCRIPT, str(bundle), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{task}: fresh-process load + one golden sample in {time.perf_counter() - started:.1f} s")
    assert result["heavy"] == [], f"{task} imported {result['heavy']}"
    assert result["task"] == task and result["answered"]
