"""`edgetool validate`: a whole bundle against a reference (golden I/O recorded at export, the live
PyTorch model, another artifact or another bundle), through the one parity path (parity.py) and the
tensor + task-metric comparison of compare.py."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgetool.runtime.errors import UsageError, did_you_mean
from edgetool.check.compare import thresholds_for
from edgetool.check.golden import Golden, Sample, run_samples
from edgetool.runtime.tasks import get_task

# -- whole-bundle validation (the `edgetool validate` command) ----------------------------------
@dataclass
class ValidateOptions:
    against: str = "golden"  # golden | torch | BACKEND/PRECISION of this bundle | another bundle dir[::B/P]
    backend: str | None = None  # only this backend (default: every backend the bundle has artifacts for)
    precision: str | None = None  # only this precision
    atol: float | None = None
    rtol: float | None = None
    metric_floor: float | None = None
    model: str | None = None  # checkpoint dir for --against torch (default: the bundle's recorded source)
    stat: str = "max"  # max | mean | median | p99 of the normalized error
    inputs: Path | None = None  # user inputs (text file / folder of images or WAVs) instead of golden samples
    output_atol: dict = field(default_factory=dict)  # output name or graph/output pattern -> atol
    output_rtol: dict = field(default_factory=dict)
    localize: bool = False
    limit: int | None = None  # use at most N user inputs


@dataclass
class Against:
    """A parsed --against."""

    kind: str  # golden | torch | artifact | bundle
    bundle: object = None  # the reference bundle (kind artifact: the same one)
    backend: str | None = None
    precision: str | None = None

    @property
    def label(self) -> str:
        if self.kind in ("golden", "torch"):
            return self.kind
        group = f"{self.backend}/{self.precision}"
        return group if self.kind == "artifact" else f"{self.bundle.root}::{group}"


def parse_against(text: str, bundle) -> Against:
    from edgetool.runtime.bundle import MANIFEST, PRECISIONS, Bundle

    raw = (text or "golden").strip()
    if raw.lower() in ("golden", "torch", "pytorch"):
        return Against("torch" if raw.lower() in ("torch", "pytorch") else "golden")
    path_part, _, group_part = raw.partition("::")
    if Path(path_part).is_dir() and (Path(path_part) / MANIFEST).is_file():
        other = Bundle.load(path_part)
        if other.task != bundle.task:
            raise UsageError(f"--against bundle {path_part} is a '{other.task}' bundle; {bundle.root} is "
                             f"'{bundle.task}'. Compare bundles of the same task.")
        if sorted(other.graphs) != sorted(bundle.graphs):
            raise UsageError(f"--against bundle {path_part} has graphs {sorted(other.graphs)}, {bundle.root} has "
                             f"{sorted(bundle.graphs)}: they are not the same model family.")
        if group_part:
            be, prec = _parse_group(group_part, PRECISIONS)
        else:
            groups = candidate_groups(other)
            be, prec = ("onnxruntime", "fp32") if ("onnxruntime", "fp32") in groups else groups[0]
        return Against("bundle", other, be, prec)
    if "/" in raw and not Path(raw).exists():
        be, prec = _parse_group(raw, PRECISIONS)
        return Against("artifact", bundle, be, prec)
    if Path(path_part).exists():
        Bundle.load(path_part)  # raises the bundle error that explains what is wrong with it
    raise UsageError(f"--against '{text}' is not understood.{did_you_mean(raw.lower(), ['golden', 'torch'])} Expected: golden (recorded at export, the default), torch "
                     "(the live PyTorch model), BACKEND/PRECISION of this bundle (e.g. onnxruntime/fp32, onnx/fp32, "
                     "openvino/int8), or another bundle's directory (optionally DIR::BACKEND/PRECISION).")


def backend_name(name: str) -> str:
    """Canonical backend name ("onnx"/"ort" -> onnxruntime, "ov" -> openvino) without importing the engine."""
    from edgetool.runtime.backends import ALIASES, BACKENDS

    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in BACKENDS:
        raise UsageError(f"Unknown backend '{name}'.{did_you_mean(name, BACKENDS)} Known: {', '.join(BACKENDS)}.")
    return key


def _parse_group(text: str, precisions) -> tuple[str, str]:
    be, _, prec = text.partition("/")
    name = backend_name(be)  # "onnx" / "ort" mean the ONNX artifact on ONNX Runtime
    if prec not in precisions:
        raise UsageError(f"--against '{text}': unknown precision '{prec}'.{did_you_mean(prec, precisions)} "
                         f"Known: {', '.join(precisions)}.")
    return name, prec


def candidate_groups(bundle, backend: str | None = None, precision: str | None = None) -> list[tuple[str, str]]:
    """(backend, precision) pairs the bundle can run, ONNX artifacts on ONNX Runtime first."""
    from edgetool.runtime.backends import TARGET_BACKEND

    groups = set()
    for a in bundle.artifacts:
        be = TARGET_BACKEND.get(a.target, "onnxruntime")
        groups.add((be, a.precision))
        if a.format == "onnx":
            groups.add(("onnxruntime", a.precision))
    order = {"onnxruntime": 0, "openvino": 1, "tensorrt": 2}
    prec_order = {"fp32": 0, "fp16": 1, "int8": 2, "int4": 3}
    out = sorted(groups, key=lambda g: (order.get(g[0], 9), prec_order.get(g[1], 9), g[1]))
    if backend:
        name = backend_name(backend)
        out = [g for g in out if g[0] == name] or [(name, p) for p in sorted({g[1] for g in out})]
    if precision:
        out = [g for g in out if g[1] == precision]
    return out


def resolve_samples(bundle, opts: ValidateOptions, golden: Golden | None = None) -> tuple[list[Sample], str]:
    """(samples, description): the golden samples, or the user's --inputs."""
    from edgetool.check import golden as golden_io

    golden = golden if golden is not None else golden_io.load(bundle)
    if opts.inputs is None:
        return golden.samples, "golden"
    from edgetool.check.inputs import load_samples

    samples, _ = load_samples(bundle, Path(opts.inputs), golden.samples, opts.limit)
    return samples, str(opts.inputs)


def validate_bundle(bundle, opts: ValidateOptions, reference: Golden | None = None, torch_reference=None,
                    localizer=None) -> list[dict]:
    """Every selected (backend, precision) of the bundle against the reference (golden by default).

    torch_reference(samples) -> Golden is called for --against torch (it lives in edgetool.export: the
    runtime never imports torch). localizer(context) -> dict is called for each failed report when
    opts.localize is set (edgetool.export.localize: it needs the onnx package)."""
    from edgetool.check import golden as golden_io
    from edgetool.check import parity  # it builds on compare() above
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.pipelines.base import open_engines

    bundle.verify_all()
    against = parse_against(opts.against, bundle)
    golden = golden_io.load(bundle)
    if opts.inputs is not None and against.kind == "golden" and reference is None:
        raise UsageError(f"--inputs {opts.inputs} cannot be checked against golden: the golden file holds reference "
                         "outputs for the recorded samples only, not for your inputs. Add --against torch (the live "
                         "PyTorch model; needs the export extra) or --against onnxruntime/fp32 (another artifact of the "
                         "bundle), or drop --inputs to validate on the golden samples.")
    samples, inputs_label = resolve_samples(bundle, opts, golden)
    cls = pipeline_class(get_task(bundle.task))
    factory = lambda engines: cls(bundle, engines=engines)  # noqa: E731
    groups = candidate_groups(bundle, opts.backend, opts.precision)
    if reference is not None:
        ref = reference
    elif against.kind == "golden":
        ref = golden
    elif against.kind == "torch":
        if torch_reference is None:
            raise UsageError("--against torch needs the live model (edgetool.export); call it through the CLI, "
                             "or pass torch_reference=.")
        ref = torch_reference(samples)
    else:
        other = against.bundle
        ref_cls = pipeline_class(get_task(other.task))
        ref = run_samples(lambda e: ref_cls(other, engines=e), open_engines(other, against.backend, against.precision),
                          samples)
        if against.kind == "artifact":
            groups = [g for g in groups if g != (against.backend, against.precision)]
    if not groups:
        raise UsageError(f"Nothing to validate in {bundle.root} for backend={opts.backend} precision={opts.precision}"
                         f" (the bundle has {', '.join(f'{b}/{p}' for b, p in candidate_groups(bundle))}"
                         f"{'; the reference ' + against.label + ' is not validated against itself' if against.kind == 'artifact' else ''}).")
    reports = []
    for be, prec in groups:
        th = thresholds_for(bundle.task, prec, opts.atol, opts.rtol, opts.metric_floor, opts.stat,
                            opts.output_atol, opts.output_rtol)
        report = parity.check(bundle, ref, be, prec, reference_label=against.label, thresholds=th, factory=factory)
        if report.get("skipped"):  # e.g. TensorRT off-device: not a parity failure
            reports.append(report)
            continue
        report.update(inputs=inputs_label, bundle=str(bundle.root), task=bundle.task)
        if opts.localize and not report["passed"]:
            report["localize"] = _localize(localizer, bundle, be, prec, against, ref, report, th, opts)
        reports.append(report)
    return reports


def _localize(localizer, bundle, backend, precision, against: Against, ref: Golden, report: dict, th, opts) -> dict:
    from edgetool.runtime.errors import EdgetoolError

    if localizer is None:
        return {"error": "localization needs the onnx package (pip install 'edgetool[export]')"}
    failing = [o for o in report["outputs"] if not o["passed"]] or report["outputs"]
    worst = max(failing, key=lambda o: o.get("score", 0.0) if o.get("score") == o.get("score") else float("inf"))
    i, j = (worst.get("worst") or [0, 0])[:2]
    call = ref.calls[i][j] if ref.calls and i < len(ref.calls) and j < len(ref.calls[i]) else None
    if call is None or call.graph != worst["graph"]:
        call = next((c for calls in ref.calls for c in calls if c.graph == worst["graph"]), None)
    if call is None:
        return {"error": f"no recorded call of graph '{worst['graph']}' to replay"}
    try:
        return localizer(bundle=bundle, backend=backend, precision=precision, against=against, graph=call.graph,
                         feeds=call.feeds, thresholds=th, model=opts.model)
    except EdgetoolError as e:
        return {"error": str(e)}
    except ImportError as e:  # a re-export needs torch: not on a device
        return {"error": f"localizing against {against.label} needs the export extra ({e}); compare two ONNX artifacts "
                         "instead, e.g. --against onnx/fp32 for a quantized artifact"}


def reports_json(reports: list[dict]) -> str:
    """Strict JSON (no NaN/Infinity literals, which many CI tools reject): non-finite numbers as strings."""
    import json
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return str(x)
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            return clean(x.item())
        return x

    return json.dumps(clean(reports), indent=2, default=str)
