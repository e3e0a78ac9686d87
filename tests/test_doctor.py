"""`doctor()` reports what this machine can run; every probe survives its subject being absent."""
from __future__ import annotations

import importlib.util

import pytest

from edgetool import doctor as doc
from edgetool.runtime.backends.tensorrt import cuda as trt_cuda


def by_component(rows):
    return {r["component"]: r for r in rows}


def test_doctor_reports_this_machine():
    rows = doc.doctor()
    assert all(set(r) == {"component", "status", "detail", "fix"} for r in rows)
    assert all(r["status"] in ("ok", "missing", "partial") for r in rows)
    got = by_component(rows)
    for name in ("Python", "numpy", "tokenizers", "ONNX Runtime", "OpenVINO", "TensorRT", "CUDA runtime",
                 "CUDA driver", "NVIDIA GPU", "Jetson / L4T", "torch (export)", "transformers (export)"):
        assert name in got, name
    assert got["ONNX Runtime"]["status"] == "ok" and "CPUExecutionProvider" in got["ONNX Runtime"]["detail"]
    assert got["OpenVINO"]["status"] == "ok" and "CPU" in got["OpenVINO"]["detail"]
    if importlib.util.find_spec("tensorrt") is None:
        assert got["TensorRT"]["status"] == "missing"
        assert "pypi.nvidia.com" in got["TensorRT"]["fix"] and "edgetool build BUNDLE" in got["TensorRT"]["fix"]
    table = doc.format_doctor(rows)
    assert all(r["component"] in table for r in rows)
    assert "to fix:" in table or all(r["status"] == "ok" for r in rows)


def test_doctor_without_cuda_or_with_a_broken_probe(monkeypatch):
    monkeypatch.setattr(trt_cuda, "_load_first", lambda names: None)
    monkeypatch.setattr(trt_cuda, "cuda_python_runtime", lambda: None)

    def broken():
        raise RuntimeError("plugin crashed")
    monkeypatch.setattr(doc, "_openvino", broken)
    got = by_component(doc.doctor())
    assert got["CUDA driver"]["status"] == got["CUDA runtime"]["status"] == got["NVIDIA GPU"]["status"] == "missing"
    assert "edgetool[tensorrt]" in got["CUDA runtime"]["fix"]
    assert got["OpenVINO"]["status"] == "partial" and "plugin crashed" in got["OpenVINO"]["detail"]


def test_gpu_rows_from_a_probe():
    probe = trt_cuda.CudaProbe(driver="12.6", gpus=[trt_cuda.Gpu(0, "Orin", "8.7", 62_000)], runtime="cuda-python")
    got = by_component(doc._cuda_rows(probe))
    assert got["NVIDIA GPU"] == {"component": "NVIDIA GPU", "status": "ok", "detail": "0: Orin (sm 8.7, 61 GiB)", "fix": ""}
    assert got["CUDA driver"]["detail"] == "supports CUDA 12.6"
    partial = by_component(doc._cuda_rows(trt_cuda.CudaProbe(driver="12.6", driver_error="cuInit failed")))
    assert partial["CUDA driver"]["status"] == "partial"


@pytest.mark.parametrize("release, model, expected", [
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
     b"NVIDIA Jetson AGX Orin Developer Kit\0", "NVIDIA Jetson AGX Orin Developer Kit, L4T R35.4.1"),
    (None, b"NVIDIA Jetson Nano Developer Kit\0", "NVIDIA Jetson Nano Developer Kit"),
])
def test_jetson_detection(tmp_path, release, model, expected):
    assert doc._jetson(tmp_path)["status"] == "missing"
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(model)
    if release:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/nv_tegra_release").write_text(release + "\n")
    row = doc._jetson(tmp_path)
    assert row["status"] == "ok" and row["detail"] == expected


def test_summary_says_which_backends_run_here():
    ok = lambda c: {"component": c, "status": "ok", "detail": "", "fix": ""}  # noqa: E731
    rows = [ok(c) for c in ("ONNX Runtime", "OpenVINO", "TensorRT", "CUDA runtime", "CUDA driver", "NVIDIA GPU",
                            "torch (export)", "transformers (export)")]
    assert doc.summary(rows) == {"backends": ["onnxruntime", "openvino", "tensorrt"], "not_here": {}, "export": True,
                                 "verify_signatures": False, "verification_enforced": False}
    rows[5] = dict(rows[5], status="missing")  # no GPU: TensorRT installed is not enough
    rows[1] = dict(rows[1], status="partial")
    rows[-1] = dict(rows[-1], status="missing")
    got = doc.summary(rows)
    assert got == {"backends": ["onnxruntime"], "not_here": {"openvino": ["OpenVINO"], "tensorrt": ["NVIDIA GPU"]},
                   "export": False, "verify_signatures": False, "verification_enforced": False}
    text = doc.format_doctor(rows)
    assert "runs here: onnxruntime · cannot export here" in text and "not here:  tensorrt (needs NVIDIA GPU)" in text


def test_two_onnxruntime_builds_in_one_environment_are_flagged(monkeypatch):
    monkeypatch.setattr(doc.metadata, "packages_distributions",
                        lambda: {"onnxruntime": ["onnxruntime", "onnxruntime_gpu"], "numpy": ["numpy"]})
    assert doc.onnxruntime_distributions() == ["onnxruntime", "onnxruntime-gpu"]
    row = doc._onnxruntime()
    assert row["status"] == "partial" and "2 builds installed into one onnxruntime module" in row["detail"]
    assert "onnxruntime-gpu" in row["detail"] and "CPUExecutionProvider" in row["detail"]
    assert row["fix"].startswith("pip uninstall -y onnxruntime onnxruntime-gpu, then install exactly one build")
    assert "edgetool[onnxruntime-gpu]" in row["fix"]
    # it still runs (on the CPU provider): the verdict says so, the fix is listed
    rows = [row, {"component": "OpenVINO", "status": "ok", "detail": "", "fix": ""}]
    assert doc.summary(rows)["backends"] == ["onnxruntime", "openvino"]
    assert "to fix:" in doc.format_doctor(rows)
    monkeypatch.setattr(doc.metadata, "packages_distributions", lambda: {"onnxruntime": ["onnxruntime"]})
    assert doc._onnxruntime()["status"] == "ok"


def test_execution_providers_are_the_ones_that_really_load():
    """A provider compiled in but unable to load its libraries (CUDA without cuDNN) is not available."""
    import onnxruntime

    usable, broken = doc.usable_providers(onnxruntime)  # the real build here, on the embedded probe graph
    assert "CPUExecutionProvider" in usable and set(usable) | set(broken) == set(onnxruntime.get_available_providers())

    class Session:
        def __init__(self, model, options, providers):
            assert model == doc._PROBE_MODEL
            if providers[0] == "TensorrtExecutionProvider":
                raise RuntimeError("libnvinfer.so.10: cannot open shared object file\nmore")
            self.providers = providers if providers[0] == "OpenVINOExecutionProvider" else providers[1:]

        def get_providers(self):
            return self.providers

    fake = type("ort", (), {"SessionOptions": lambda: type("o", (), {})(), "InferenceSession": Session,
                            "get_available_providers": lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                                "OpenVINOExecutionProvider", "CPUExecutionProvider"]})
    usable, broken = doc.usable_providers(fake)
    assert usable == ["OpenVINOExecutionProvider", "CPUExecutionProvider"]
    assert broken == {"TensorrtExecutionProvider": "libnvinfer.so.10: cannot open shared object file",
                      "CUDAExecutionProvider": "its libraries did not load (the session fell back to the CPU)"}
