"""`edgetool doctor`: what this machine can run, and what to install for the rest.

Every probe is read-only and survives the thing it probes being absent (CUDA is probed with ctypes,
torch and transformers by their package metadata, so the check stays fast and never imports them).
"""
from __future__ import annotations

import importlib
import importlib.util
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from edgetool.runtime.backends.tensorrt import cuda

OK, MISSING, PARTIAL = "ok", "missing", "partial"
TRT_FIX = ("JetPack ships TensorRT on Jetsons; elsewhere pip install tensorrt --extra-index-url "
           "https://pypi.nvidia.com (needs an NVIDIA GPU). Only needed to run --target trt bundles, whose engines "
           "are built on the device with `edgetool build BUNDLE`.")


def _row(component: str, status: str, detail: str, fix: str = "") -> dict:
    return {"component": component, "status": status, "detail": detail, "fix": fix}


def _version(module: str, dist: str | None = None, load: bool = True) -> str | None:
    """Installed version, or None when the module is absent. load=False never imports it (torch: 1.6 s)."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return metadata.version(dist or module)
    except metadata.PackageNotFoundError:  # e.g. JetPack's apt-installed tensorrt has no pip metadata
        pass
    if not load:
        return "installed"
    return str(getattr(importlib.import_module(module), "__version__", "installed"))


def _package(component: str, module: str, fix: str, load: bool = True) -> dict:
    v = _version(module, load=load)
    return _row(component, OK, v) if v else _row(component, MISSING, "not installed", fix)


# An Identity graph (float x[1] -> y), serialized: a session on it shows whether an execution provider
# really loads (a CUDA provider whose libraries are missing falls back to the CPU with only a warning).
_PROBE_MODEL = bytes.fromhex("080712003a370a100a017812017922084964656e746974791201705a0f0a0178120a0a08080112040a02"
                             "0801620f0a0179120a0a08080112040a02080142040a00100d")
ORT_FIX = ("install exactly one build: pip install 'edgetool[onnxruntime]' (CPU) or 'edgetool[onnxruntime-gpu]' "
           "(CUDA); on Jetsons NVIDIA's onnxruntime-gpu wheel for your JetPack")


def onnxruntime_distributions() -> list[str]:
    """Every installed distribution that provides the `onnxruntime` module (onnxruntime, onnxruntime-gpu,
    onnxruntime-openvino, ...): they install into one folder, and two of them overwrite each other's files."""
    found = metadata.packages_distributions().get("onnxruntime", [])
    return sorted({d.lower().replace("_", "-") for d in found})


def usable_providers(ort) -> tuple[list[str], dict[str, str]]:
    """(providers a session really gets, {compiled-in provider that does not load here: why})."""
    usable, broken = [], {}
    for provider in ort.get_available_providers():
        if provider == "CPUExecutionProvider":
            usable.append(provider)
            continue
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 4  # the fallback warning is what we report, not print
            got = ort.InferenceSession(_PROBE_MODEL, options, providers=[provider, "CPUExecutionProvider"]).get_providers()
        except Exception as e:  # noqa: BLE001 - a provider failing to load is the finding
            broken[provider] = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            continue
        if provider in got:
            usable.append(provider)
        else:
            broken[provider] = "its libraries did not load (the session fell back to the CPU)"
    return usable, broken


def _onnxruntime() -> dict:
    dists = onnxruntime_distributions()
    if importlib.util.find_spec("onnxruntime") is None:
        return _row("ONNX Runtime", MISSING, "not installed", ORT_FIX)
    import onnxruntime as ort

    usable, broken = usable_providers(ort)
    detail = f"{ort.__version__}; providers: {', '.join(usable)}"
    if broken:
        detail += "; not usable: " + "; ".join(f"{p} ({why})" for p, why in broken.items())
    if len(dists) > 1:
        versions = ", ".join(f"{d} {_dist_version(d)}" for d in dists)
        return _row("ONNX Runtime", PARTIAL, f"{len(dists)} builds installed into one onnxruntime module ({versions}): "
                    f"whichever was installed last won, the others' providers may be gone; {detail}",
                    f"pip uninstall -y {' '.join(dists)}, then {ORT_FIX}")
    if broken:
        return _row("ONNX Runtime", PARTIAL, detail,
                    "install the CUDA/cuDNN (or TensorRT) libraries this onnxruntime build needs, or use the CPU build")
    return _row("ONNX Runtime", OK, detail)


def _dist_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _openvino() -> dict:
    if importlib.util.find_spec("openvino") is None:
        return _row("OpenVINO", MISSING, "not installed", "pip install 'edgetool[openvino]' (x86 and ARM CPUs, Intel GPUs/NPUs)")
    import openvino as ov

    return _row("OpenVINO", OK, f"{ov.__version__}; devices: {', '.join(ov.Core().available_devices) or 'none'}")


def _tensorrt(probe: cuda.CudaProbe) -> dict:
    v = _version("tensorrt")
    if v is None:
        return _row("TensorRT", MISSING, "not installed", TRT_FIX)
    v = f"{v} ({tensorrt_implications()})"
    if not probe.gpus or probe.runtime is None:
        lacks = "an NVIDIA GPU" if not probe.gpus else "the CUDA runtime"
        return _row("TensorRT", PARTIAL, f"{v}, but this machine lacks {lacks}", "see the CUDA and GPU rows")
    return _row("TensorRT", OK, v)


def tensorrt_implications() -> str:
    """The major version and the build path it implies (TensorRT 11 is strongly typed only)."""
    import tensorrt as trt

    from edgetool.runtime.backends.tensorrt.build import trt_major, typing_implications, weak_typing_available

    return typing_implications(trt_major(trt.__version__), weak_typing_available(trt))


def _cuda_rows(probe: cuda.CudaProbe) -> list[dict]:
    rows = []
    if probe.runtime:
        rows.append(_row("CUDA runtime", OK, probe.runtime))
    else:
        rows.append(_row("CUDA runtime", MISSING, "neither cuda-python nor libcudart found",
                         "pip install 'edgetool[tensorrt]' (cuda-python) or the CUDA toolkit; only TensorRT needs it"))
    if probe.driver is None:
        rows.append(_row("CUDA driver", MISSING, probe.driver_error or "not found",
                         "install the NVIDIA driver (only TensorRT needs it)"))
    elif probe.driver_error:
        rows.append(_row("CUDA driver", PARTIAL, f"supports CUDA {probe.driver}, but {probe.driver_error}",
                         "check the GPU is visible (CUDA_VISIBLE_DEVICES, container --gpus) and the driver loaded"))
    else:
        rows.append(_row("CUDA driver", OK, f"supports CUDA {probe.driver}"))
    if probe.gpus:
        detail = "; ".join(f"{g.index}: {g.name} (sm {g.compute_capability}"
                           + (f", {g.memory_mb / 1024:.0f} GiB)" if g.memory_mb else ")") for g in probe.gpus)
        rows.append(_row("NVIDIA GPU", OK, detail))
    else:
        rows.append(_row("NVIDIA GPU", MISSING, _nvidia_smi() or "none found",
                         "TensorRT needs an NVIDIA GPU; here use --backend onnxruntime or openvino"))
    return rows


def _nvidia_smi() -> str | None:
    """nvidia-smi's own words when the driver API found no GPU (it names driver/library mismatches)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"nvidia-smi failed: {e}"
    text = (out.stdout or out.stderr).strip().splitlines()
    return f"nvidia-smi: {text[0]}" if text else None


def _jetson(root: Path = Path("/")) -> dict:
    release, model = root / "etc/nv_tegra_release", root / "proc/device-tree/model"
    try:
        name = model.read_bytes().rstrip(b"\0").decode(errors="replace").strip() if model.is_file() else ""
        l4t = release.read_text(errors="replace").splitlines()[0] if release.is_file() else ""
    except (OSError, IndexError):
        name, l4t = "", ""
    if not l4t and "jetson" not in name.lower():
        return _row("Jetson / L4T", MISSING, "not a Jetson (no /etc/nv_tegra_release)")
    # "# R35 (release), REVISION: 4.1, GCID: …" -> "L4T R35.4.1"
    parts = {k.strip(" #"): v.strip() for k, _, v in (p.partition(":") for p in l4t.split(","))}
    version = l4t.split()[1] if l4t.startswith("# R") else ""
    if version and parts.get("REVISION"):
        version = f"L4T {version}.{parts['REVISION']}"
    return _row("Jetson / L4T", OK, ", ".join(s for s in (name, version or l4t) if s))


SIGNING_FIX = ("pip install 'edgetool[verify]' (cryptography + pyopenssl) to verify bundle signatures on a device; "
               "'edgetool[signing]' (model-signing) to sign them")


def _signing() -> dict:
    """Whether bundle signatures can be verified here (cryptography + pyOpenSSL; the device never imports
    model-signing, which only signs), and whether EDGETOOL_VERIFY_KEY enforces them."""
    import os

    from edgetool.runtime.bundle import VERIFY_KEY_ENV
    from edgetool.runtime.signing import signing_available

    missing = signing_available()
    signer = _version("model_signing", "model-signing", load=False)
    key = os.environ.get(VERIFY_KEY_ENV) or ""
    enforced = (f"enforced: {VERIFY_KEY_ENV}={key}" + ("" if Path(key).is_file() else " (file not found!)")
                if key else f"not enforced (set {VERIFY_KEY_ENV}=PUBLIC.pem, or pass --verify-key)")
    if missing is None:
        status = OK if not key or Path(key).is_file() else PARTIAL
        can_sign = f"signs with model-signing {signer}" if signer else "verifies only (model-signing signs)"
        return _row("signing (verify)", status, f"{can_sign}; {enforced}",
                    "" if status == OK else f"{VERIFY_KEY_ENV} names no file: every bundle will be refused")
    return _row("signing (verify)", MISSING, f"cannot verify ({missing}); {enforced}", SIGNING_FIX)


def _guard(component: str, probe_fn, *args) -> list[dict]:
    """A probe that fails becomes a row saying so: doctor must report, never crash."""
    try:
        rows = probe_fn(*args)
        return rows if isinstance(rows, list) else [rows]
    except Exception as e:  # noqa: BLE001 - any failure of a third-party probe is a finding
        return [_row(component, PARTIAL, f"installed, but probing it failed: {type(e).__name__}: {e}",
                     "reinstall it, or check its environment variables")]


def doctor() -> list[dict]:
    """One row per component: {component, status ok|missing|partial, detail, fix}."""
    probe = cuda.probe_cuda()
    export_fix = "pip install 'edgetool[export]' (only to export; devices never need it)"
    return [
        _row("Python", OK, f"{platform.python_version()} ({sys.executable}, {platform.machine()})"),
        *_guard("numpy", _package, "numpy", "numpy", "pip install numpy"),
        *_guard("tokenizers", _package, "tokenizers", "tokenizers", "pip install tokenizers"),
        *_guard("ONNX Runtime", _onnxruntime),
        *_guard("OpenVINO", _openvino),
        *_guard("TensorRT", _tensorrt, probe),
        *_guard("CUDA", _cuda_rows, probe),
        *_guard("Jetson / L4T", _jetson),
        *_guard("signing (verify)", _signing),
        *_guard("torch (export)", _package, "torch (export)", "torch", export_fix, False),
        *_guard("transformers (export)", _package, "transformers (export)", "transformers", export_fix, False),
    ]


# backend -> the rows that must all be ok for it to run here
BACKEND_NEEDS = {"onnxruntime": ("ONNX Runtime",), "openvino": ("OpenVINO",),
                 "tensorrt": ("TensorRT", "CUDA runtime", "CUDA driver", "NVIDIA GPU")}


# Two ONNX Runtime builds in one environment, or a GPU provider that does not load, still run on the CPU provider.
RUNS_WHEN_PARTIAL = {"ONNX Runtime"}


def summary(rows: list[dict]) -> dict:
    """{"backends": [...runnable here], "not_here": {backend: [missing components]}, "export": bool}."""
    status = {r["component"]: r["status"] for r in rows}
    runnable, not_here = [], {}
    for backend, needs in BACKEND_NEEDS.items():
        missing = [c for c in needs if status.get(c) != OK and not (c in RUNS_WHEN_PARTIAL and status.get(c) == PARTIAL)]
        (not_here.__setitem__(backend, missing) if missing else runnable.append(backend))
    export = all(status.get(c) == OK for c in ("torch (export)", "transformers (export)"))
    signing = next((r for r in rows if r["component"] == "signing (verify)"), None)
    return {"backends": runnable, "not_here": not_here, "export": export,
            "verify_signatures": bool(signing and signing["status"] == OK),
            "verification_enforced": bool(signing and "enforced:" in signing["detail"])}


def format_doctor(rows: list[dict]) -> str:
    """A table, a one-line verdict per backend, then how to fix what is missing."""
    w1 = max(len("component"), *(len(r["component"]) for r in rows))
    w2 = max(len("status"), *(len(r["status"]) for r in rows))
    lines = [f"{'component':<{w1}}  {'status':<{w2}}  detail", f"{'-' * w1}  {'-' * w2}  {'-' * 6}"]
    lines += [f"{r['component']:<{w1}}  {r['status']:<{w2}}  {r['detail']}" for r in rows]
    verdict = summary(rows)
    lines += ["", f"runs here: {', '.join(verdict['backends']) or 'no backend'}"
              + (" · exports here" if verdict["export"] else " · cannot export here (needs the export extra)")]
    lines += [f"not here:  {b} (needs {', '.join(m)})" for b, m in verdict["not_here"].items()]
    fixes = [r for r in rows if r["status"] != OK and r["fix"]]
    if fixes:
        lines += ["", "to fix:"] + [f"  {r['component']}: {r['fix']}" for r in fixes]
    return "\n".join(lines)
