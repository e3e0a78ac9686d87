"""Adding a precision (fp16 / int8, or a plain fp32 build) of every graph to a bundle, for one target:
calibrate through the bundle's pipeline, build, measure the accuracy against fp32, and — with
--max-metric-drop — fail or fall back until the drop is acceptable.

Used by `edgetool export --precision` (on the staging bundle) and `edgetool quantize` (on an existing
bundle): both write through edgetool.bundle_writer.BundleWriter and build with
targets.produce.build_artifacts. Nothing here is task-specific: the registry gives the input kind, metric
and thresholds, the recipe or golden file gives the example calls, the target does the conversion.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from edgetool.check.golden import Sample
from edgetool.progress import terminal
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import UsageError
from edgetool.runtime.manifest import Provenance
from edgetool.runtime.tasks import get_task
from edgetool.targets.produce import build_artifacts, source_onnx

from . import calibration as cal
from .accuracy_report import REFERENCE, AccuracyDropError, evaluate, format_table, reference
from .builds import build
from .kv_cache import check_request as check_kv_request

# How many of the most damaging weight layers --fallback keeps in higher precision, step by step (fine at
# first: each kept layer costs speed, and a few usually recover most of the drop).
LM_HEAD_CHOICES = ("int8", "int4", "fp32")  # --precision int4: the LM head's weights (default int8)
FALLBACK_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def _opt(opts, name, default=None):
    value = getattr(opts, name, None)
    return default if value is None else value


def resolve_method(target, precision: str, opts, task: str | None = None) -> str | None:
    """INT8 method for this target: explicit --method, else weight-only for decoder LLMs (text-generation)
    where the target has it, else static when calibration data is given or the target only calibrates
    (OpenVINO/NNCF), else dynamic (ONNX Runtime, transformer encoders on CPU)."""
    if precision != "int8":
        if _opt(opts, "method"):
            raise UsageError(f"--method applies to --precision int8, not {precision}.")
        return None
    methods = getattr(target, "int8_methods", ("static",))
    method = _opt(opts, "method")
    # with --kv-cache int8, --calibration calibrates the cache, not the weights
    weight_calibration = _opt(opts, "calibration") is not None and _opt(opts, "kv_cache") != "int8"
    if method is None and task == "text-generation" and "weight-only" in methods and not weight_calibration:
        method = "weight-only"
    if method is None:
        method = "static" if (_opt(opts, "calibration") is not None or "dynamic" not in methods) else "dynamic"
    if method not in ("dynamic", "static", "weight-only"):
        raise UsageError(f"Unknown --method '{method}'; expected dynamic, static or weight-only.")
    if method not in methods:
        raise UsageError(f"Target '{target.name}' cannot do INT8 {method} quantization (it does: "
                         f"{', '.join(methods)}). Use --method {methods[0]}, or --target onnx for dynamic INT8.")
    if method == "weight-only" and weight_calibration:
        raise UsageError("--calibration is not used by weight-only INT8 (the weights are quantized on their own). "
                         "Drop --calibration, pass --method static, or add --kv-cache int8 (it calibrates the cache).")
    if method == "dynamic" and _opt(opts, "calibration") is not None:
        raise UsageError("--calibration is only used by static INT8 (dynamic INT8 quantizes activations at run time). "
                         "Drop --calibration, or pass --method static.")
    return method


def _check_kv_cache(opts, target, task: str, precision: str, method: str | None, graphs) -> str:
    """--kv-cache: fp32 (the default) or int8, which only ONNX Runtime's fused decoder of a weight-only
    quantized LLM takes (quantize/kv_cache.py)."""
    from edgetool.runtime.names import FUSED_DECODER

    kv_cache = check_kv_request(_opt(opts, "kv_cache"), task, target.name, precision, method)
    if kv_cache == "int8" and FUSED_DECODER not in graphs:
        raise UsageError("--kv-cache int8 needs ONNX Runtime's fused decoder graph, which this bundle does not have "
                         "(its export log says why the model family has none); its cache stays fp32. Drop --kv-cache.")
    return kv_cache


def _say(msg: str, quiet: bool) -> None:
    """A line for the user on the terminal, even while an export sends the libraries' output to its log."""
    if not quiet:
        print(f"\n{msg}", file=terminal(), flush=True)


def _golden_samples(bundle: Bundle) -> list[Sample]:
    from edgetool.check import golden

    try:
        return golden.load(bundle).samples
    except Exception:  # a staging bundle before golden/ is written
        return []


def add_precision(staged, target, opts, samples: list[Sample] | None = None) -> dict:
    """Build `opts.precision` of every graph for `target` into `staged` (a BundleWriter, new or editing).

    Returns the accuracy row of the new artifact. Raises AccuracyDropError (nothing is kept) when
    `max_metric_drop` is exceeded and `fallback` is off or cannot reach it."""
    precision = opts.precision
    quiet = bool(_opt(opts, "quiet", False))
    target.check_precision(precision)
    static_shapes = _opt(opts, "static_shapes")
    if static_shapes and target.name == "onnx":
        raise UsageError("--static-shapes applies to --target openvino; ONNX Runtime artifacts keep dynamic shapes.")
    spec = get_task(staged.manifest.task)
    if precision == "int4" and spec.name != "text-generation":
        raise UsageError(f"--precision int4 is weight-only quantization for decoder LLMs (text-generation); this "
                         f"bundle's task is {spec.name}. Use --precision int8 or fp16.")
    method = resolve_method(target, precision, opts, spec.name)
    bundle = staged.bundle()
    templates = list(samples) if samples is not None else _golden_samples(bundle)

    calib_raw, held_raw = cal.load_raw(spec, _opt(opts, "calibration"), _opt(opts, "calibration_size"),
                                       _opt(opts, "held_out", cal.DEFAULT_HELD_OUT))
    calibration = None
    label = f"{target.backend}/{precision}"
    kv_cache = _check_kv_cache(opts, target, spec.name, precision, method, staged.manifest.graphs)
    if method == "static" or kv_cache == "int8":
        calibration = cal.build_calibration(bundle, spec, calib_raw, templates, static=method == "static")
        for w in calibration.info["warnings"]:
            _say(f"warning: {w}", quiet)

    eval_samples = templates + cal.to_samples(spec, bundle, held_raw, templates)
    held_count = len(eval_samples) - len(templates)
    # embeddings are used in batches; other text pipelines (multiple-choice) take one prompt a call
    batches = cal.batched(eval_samples) if cal.input_kind(spec) == "text" and spec.metric == "cosine" else []
    eval_samples += batches
    ref = reference(bundle, eval_samples)
    rel_dir = staged.artifact_dir(target.name, precision)
    max_drop = _opt(opts, "max_metric_drop")
    fallback = bool(_opt(opts, "fallback", False))
    calib_method = _opt(opts, "calibration_method")
    if calib_method is not None and not (method == "static" and "dynamic" in getattr(target, "int8_methods", ())):
        raise UsageError(f"--calibration-method applies to static INT8 on ONNX Runtime (got target '{target.name}', "
                         f"precision {precision}, method {method}). NNCF (OpenVINO) picks its own ranges; drop it.")
    extra = {"method": method, "calibration_method": calib_method or "minmax"} if method else {}
    lm_head = _opt(opts, "lm_head")
    if lm_head is not None:
        if precision != "int4":
            raise UsageError(f"--lm-head applies to --precision int4, not {precision}.")
        if lm_head not in LM_HEAD_CHOICES:
            raise UsageError(f"--lm-head must be one of {', '.join(LM_HEAD_CHOICES)}, got '{lm_head}'.")
        extra["lm_head"] = lm_head
    extra["kv_cache"] = kv_cache

    base = target.build_options(staged.manifest, opts)
    keep, steps, ranked = 0, iter(FALLBACK_STEPS), None
    auto: dict | None = None  # plain INT8 missed the task floor: the fallback runs on its own
    while True:
        kept_names = ranked[len(ranked) - keep:] if ranked and keep else []
        options = dataclasses.replace(base, precision=precision, static_shapes=static_shapes,
                                      extra={**base.extra, **extra, "exclude": kept_names})
        details = build_artifacts(staged, target, options,
                                  rel_dir=rel_dir, calibration=calibration, build=build)
        row = evaluate(staged.bundle(), ref, target.backend, precision)
        kept = sorted({n for d in details.values() for n in d.get("kept_fp32_nodes", [])})
        row.update(method=_describe(method, extra, precision, details), kept_fp32_nodes=kept)
        if ranked is not None:
            row["fallback"] = {"kept": len(kept_names), "ranking": "measured INT8 damage per layer (most first)",
                               "layers": list(reversed(kept_names))}
        if max_drop is None and precision == "int8" and not row.get("skipped") and row["value"] < row["floor"] \
                and _opt(opts, "check_parity", True):  # --no-parity-check keeps plain INT8 as it is
            # INT8 that passes by default when it can: try the accuracy-aware fallback before giving up
            auto = {"plain": {"value": row["value"], "latency_ms": row["latency_ms"]}, "floor": row["floor"]}
            max_drop, fallback = 1.0 - row["floor"], True
            _say(f"{label}: plain INT8 misses the task floor ({row['metric']} {row['value']:.4f} < {row['floor']:g}); "
                 "trying the accuracy-aware fallback (the most sensitive layers stay in higher precision)", quiet)
        if max_drop is None or row.get("skipped") or row["drop"] <= max_drop + 1e-12:
            break
        if auto is not None and ranked is not None and keep >= len(ranked):
            raise AccuracyDropError(_auto_failure(label, row, auto, len(ranked)), row)
        if not fallback:
            raise AccuracyDropError(
                f"{label}: {row['metric']} drops by {row['drop']:.4f} against fp32 (allowed {max_drop:g}); nothing "
                "was written. Pass --fallback to keep the most sensitive layers in higher precision, use "
                "--precision fp16, or calibrate on more representative data.", row)
        if ranked is None:  # measure once which layers hurt most
            ranked = _ranking(staged, bundle, spec, calibration, calib_raw, templates, method)
        if keep >= len(ranked):
            raise AccuracyDropError(
                f"{label}: {row['metric']} still drops by {row['drop']:.4f} (allowed {max_drop:g}) with all "
                f"{len(ranked)} weight layers kept in higher precision; nothing was written. Use --precision fp16.", row)
        keep = min(next(steps, len(ranked)), len(ranked))

    if auto is not None:
        fb = row.get("fallback") or {"kept": 0, "layers": []}
        auto.update(kept=fb["kept"], layers=fb["layers"], value=row["value"], latency_ms=row["latency_ms"],
                    speed_cost=round(row["latency_ms"] / max(auto["plain"]["latency_ms"], 1e-9), 3))
        row["auto_fallback"] = auto
        _say(f"{label}: the fallback reaches {row['metric']} {row['value']:.4f} (floor {auto['floor']:g}) with "
             f"{fb['kept']} layer(s) in higher precision ({', '.join(fb['layers'][:8])}"
             f"{', ...' if len(fb['layers']) > 8 else ''}); latency {row['latency_ms']:.2f} ms vs "
             f"{auto['plain']['latency_ms']:.2f} ms for plain INT8 (x{auto['speed_cost']:.2f})", quiet)

    m = staged.manifest
    acc = m.accuracy.to_json() if m.accuracy is not None else {"reference": "/".join(REFERENCE), "rows": {}}
    acc.update(samples=len(eval_samples), golden=len(templates), held_out=held_count,
               held_out_source=held_raw.source, metric=spec.metric)
    acc["rows"]["/".join(REFERENCE)] = dict(evaluate(bundle, ref, *REFERENCE), method="reference")
    if precision != "fp32" and any(a.target == target.name and a.precision == "fp32" for a in m.artifacts) \
            and target.backend != REFERENCE[0]:
        acc["rows"][f"{target.backend}/fp32"] = dict(evaluate(bundle, ref, target.backend, "fp32"), method="")
    acc["rows"][label] = row
    if max_drop is not None:
        row["max_metric_drop"] = max_drop
    if calibration is not None:
        staged.update(provenance=(m.provenance or Provenance()).with_calibration(label, dict(calibration.info)))
    elif method == "dynamic":
        staged.update(provenance=(m.provenance or Provenance()).with_calibration(label, {
            "size": 0, "note": "dynamic INT8: activation ranges are computed at run time, no calibration set"}))
    staged.manifest = staged.manifest.merged({"accuracy": acc})
    if not quiet and _opt(opts, "show_table", False):  # the CLI prints it on stdout itself
        print("\n" + format_table(acc), file=terminal(), flush=True)
    return row


def _auto_failure(label: str, row: dict, auto: dict, layers: int) -> str:
    return (f"{label}: INT8 misses the task floor: {row['metric']} {auto['plain']['value']:.4f} with plain INT8 and "
            f"{row['value']:.4f} with all {layers} weight layers kept in higher precision (floor {auto['floor']:g}); "
            "nothing was written. Next: --precision fp16; --method static --calibration DIR with representative "
            "inputs; or accept a lower floor with --max-metric-drop.")


def _ranking(staged, bundle, spec, calibration, calib_raw, templates, method) -> list[str]:
    """Weight layers of every graph, least INT8 damage first (quantize.sensitivity)."""
    from .sensitivity import node_damage, rank

    if calibration is None:  # dynamic INT8 / fp16: record a few feeds through the pipeline just for the ranking
        calibration = cal.build_calibration(bundle, spec, calib_raw.take(0, 16), templates, static=True)
    how = "dynamic" if method == "dynamic" else "static"
    return rank({g: node_damage(staged.dir / source_onnx(g), calibration.graph_feeds.get(g) or [], how)
                 for g in staged.manifest.graphs if calibration.graph_feeds.get(g)})


def _describe(method, extra, precision, details: dict) -> str:
    weights = sorted({d["weights"] for d in details.values() if d.get("method") == "weight-only" and d.get("weights")})
    if weights:
        tools = sorted({d["tool"] for d in details.values() if d.get("tool")})
        cache = ", int8 KV cache" if any(d.get("kv_cache") == "int8" for d in details.values()) else ""
        return f"weight-only {', '.join(weights)} ({', '.join(tools)}){cache}"
    if precision != "int8":
        return precision
    tools = {d["tool"].split()[0] for d in details.values() if d.get("tool")}
    if method == "static":
        return f"static ({', '.join(sorted(tools)) or extra.get('calibration_method')})"
    return method or ""


def quantize_bundle(opts) -> tuple[Path, dict]:
    """`edgetool quantize`: add a precision to an existing bundle; (bundle path, accuracy section)."""
    from edgetool.bundle_writer import BundleWriter
    from edgetool.check import golden as golden_io
    from edgetool.check import parity
    from edgetool.check.compare import format_report
    from edgetool.runtime.errors import ParityError
    from edgetool.targets import get_target

    editor = BundleWriter.edit(Path(opts.bundle))
    editor.sign_key = opts.sign_key
    target = get_target(opts.target or editor.manifest.default_target or "onnx")
    target.check_precision(opts.precision)
    if target.name == "onnx" and opts.precision == "fp32":
        raise UsageError("The bundle's ONNX fp32 artifacts are the source of every other precision; there is nothing "
                         "to add. Pass --precision fp16 or int8 (or --target openvino --precision fp32).")
    target.check_environment()
    if not any(a.target == "onnx" and a.precision == "fp32" for a in editor.manifest.artifacts):
        raise UsageError(f"{opts.bundle} has no fp32 ONNX artifacts to quantize from; re-export it with this edgetool.")
    original = editor.bundle()
    golden = golden_io.load(original)  # verifies the golden files' hashes
    try:
        add_precision(editor, target, opts, samples=golden.samples)
        label = f"{target.backend}/{opts.precision}"
        report = parity.check(editor.bundle(), golden, target.backend, opts.precision, reference_label="golden")
        editor.add_parity(label, report)
        if report.get("passed") is False and opts.check_parity:
            raise ParityError(f"{label} does not meet the registry's {opts.precision} thresholds against the golden "
                              f"(PyTorch) outputs; nothing was written.\n{format_report(report)}", report)
        editor.commit()
    finally:
        editor.abort()
    return editor.dir, editor.manifest.accuracy.to_json()
