"""`edgetool export`: model -> ONNX -> target artifact(s) -> golden I/O -> parity -> bundle."""
from __future__ import annotations

from pathlib import Path

from edgetool.bundle_writer import BundleWriter
from edgetool.check import parity
from edgetool.check.golden import Golden, record, save as save_golden
from edgetool.progress import Steps, terminal
from edgetool.runtime.backends import TARGET_BACKEND
from edgetool.runtime.bundle import Artifact, Bundle
from edgetool.runtime.names import graph_backends
from edgetool.runtime.errors import EdgetoolError, ParityError, UnsupportedError, UsageError
from edgetool.runtime.pipelines import pipeline_class
from edgetool.runtime.tasks import get_task
from edgetool.targets import get_target
from edgetool.targets.produce import build_artifacts, source_onnx
from .e2e_reference import pipeline_reference
from .log import LOG_NAME, ExportLog
from .onnx_export import export_graph
from .options import ExportOptions
from .provenance import provenance
from .families import Adapter, adapter_for, default_reference, families_for
from .source import check_checkpoint_dir, load_source, read_config, source_path
from .torch_backend import torch_engines


def source_checkpoint(opts: ExportOptions) -> Path:
    """The checkpoint directory the export reads (the user's --model, or the built-in reference's)."""
    path, _ = source_path(opts.model, None if opts.model is not None else (opts.reference or default_reference(opts.task)))
    return Path(path)


def load_for(opts: ExportOptions) -> tuple[Adapter, object, list]:
    """(adapter, source, graphs) for an export or a live-torch validation: the family adapter is picked
    from the checkpoint's config.model_type before the weights are loaded."""
    path, origin = source_path(opts.model, None if opts.model is not None else (opts.reference or default_reference(opts.task)))
    families_for(opts.task)  # imports the task's family modules first: some register their Auto config classes
    adapter = adapter_for(opts.task, read_config(path))
    source = load_source(adapter, path, origin)
    return adapter, source, adapter.build_graphs(source, opts)


def record_golden(bundle: Bundle, graphs, samples) -> Golden:
    cls = pipeline_class(get_task(bundle.task))
    return record(lambda engines: cls(bundle, engines=engines), torch_engines(graphs), samples)


def parity_reports(bundle: Bundle, golden: Golden, groups: list[tuple[str, str]]) -> dict[str, dict]:
    """Compare each (backend, precision) of the bundle with the golden (PyTorch) reference."""
    return parity.check_groups(bundle, golden, groups, reference_label="torch")


def export(opts: ExportOptions) -> Path:
    spec = get_task(opts.task)
    default_reference(spec.name)  # a task with no export family fails here, before anything is written
    target = get_target(opts.target)
    target.check_precision(opts.precision)
    target.check_environment()
    opts.task = spec.name
    if (opts.shapes or opts.workspace_mb is not None) and not target.takes_profiles:
        raise UsageError(f"--shapes and --workspace set engine build profiles (TensorRT); they do not apply to "
                         f"--target {target.name}. Use --target trt, or drop them.")
    if isinstance(opts.shapes, str):
        from edgetool.runtime.backends.tensorrt.profiles import parse_shapes

        opts.shapes = parse_shapes(opts.shapes)  # a bad string fails here, before anything is written
    if opts.static_shapes and not getattr(target, "takes_static_shapes", False):
        raise UsageError(f"--static-shapes fixes OpenVINO IR dims; it does not apply to --target {target.name}. "
                         "Use --target openvino, or drop it.")
    if opts.kv_cache not in (None, "fp32"):
        from edgetool.quantize.kv_cache import check_request

        check_request(opts.kv_cache, spec.name, target.name, opts.precision, opts.method)  # before anything is written
    if opts.model is not None:
        check_checkpoint_dir(Path(opts.model))  # before anything is created
        families_for(spec.name)
        adapter_for(spec.name, read_config(Path(opts.model)))  # remote code, unexportable model types
    out = Path(opts.out) if opts.out else opts.default_out(spec.name)
    steps = Steps(6, quiet=opts.quiet)
    writer = BundleWriter.create(out, force=opts.force, task=spec.name)
    log = ExportLog(writer.dir / LOG_NAME)
    writer.sign_key = opts.sign_key
    try:
        with log.step(steps, f"load model ({opts.model or 'reference ' + (opts.reference or default_reference(spec.name))})"):
            adapter, source, graphs = load_for(opts)
        if opts.dynamo is None:
            opts.dynamo = adapter.dynamo  # the family's exporter; --dynamo/--no-dynamo override it
        writer.update(default_target=target.name)
        writer.manifest = writer.manifest.merged(adapter.manifest(source))  # with "family"
        with log.step(steps, f"trace {len(graphs)} graph(s) to ONNX (opset {opts.opset})"):
            for g in graphs:
                rel = source_onnx(g.name)
                spec_g = export_graph(g, writer.dir / rel, opts.opset, opts.dynamo)
                writer.update(graphs={**writer.manifest.graphs, g.name: spec_g})
                only = graph_backends(g.name)
                writer.add_artifact(Artifact(g.name, "onnx", "fp32", "onnx", rel, writer.hashes([rel]),
                                             {"backends": list(only)} if only else {}))
        with log.step(steps, "write tokenizer / processor files"):
            for rel in adapter.files(source, writer.dir):
                writer.add_file(rel)
        with log.step(steps, f"compile for {target.name} ({opts.precision})"):
            build_target(writer, target, opts, adapter.samples(source))
        with log.step(steps, "record golden I/O from PyTorch and the transformers pipeline's answers"):
            golden = record_golden(writer.bundle(), graphs, adapter.samples(source))
            golden.e2e = pipeline_reference(spec.name, source_checkpoint(opts), golden.samples,
                                            adapter.no_pipeline_reference)
            if golden.e2e["status"] == "bad-reference" and not opts.quiet:
                print(f"\nwarning: no end-to-end reference: {golden.e2e['reason']}", file=terminal(), flush=True)
            for rel in save_golden(golden, writer.dir):
                writer.add_file(rel)
        with log.step(steps, "check parity against PyTorch"):
            bundle = writer.bundle()
            groups = sorted({(TARGET_BACKEND[a.target] if a.target != "onnx" else "onnxruntime", a.precision)
                             for a in bundle.artifacts})
            groups = sorted(set(groups) | {("onnxruntime", "fp32")})
            reports = parity_reports(bundle, golden, groups)
        recorded = {k: v for k, v in writer.manifest.provenance.to_json().items() if v is not None} \
            if writer.manifest.provenance else {}
        # the recorded part (calibration sets of added precisions) wins over the fresh provenance
        writer.manifest = writer.manifest.merged({"provenance": {**provenance(source, opts, exporter_name(graphs, opts)),
                                                                 **recorded},
                                                  "parity": reports})
        failed = [k for k, r in reports.items() if r.get("passed") is False]
        if failed and opts.check_parity:
            from edgetool.check.compare import format_report

            detail = "\n".join(format_report(reports[k]) for k in failed)
            raise ParityError(f"Export does not match PyTorch or the transformers pipeline for {', '.join(failed)}; "
                              f"no bundle written.\n{detail}", reports)
        log.close()
        writer.add_file(LOG_NAME)
        return writer.commit()
    except EdgetoolError as e:
        kept = log.keep_outside(out.name)
        msg = str(e.args[0]) if e.args else str(e)
        e.args = (f"{msg}{chr(10) if chr(10) in msg else ' '}The export's log: {kept}", *e.args[1:])
        raise
    except BaseException:
        log.keep_outside(out.name)
        raise
    finally:
        log.close()
        writer.abort()  # no-op after commit (the staging dir was renamed)


def exporter_name(graphs, opts: ExportOptions) -> str:
    """The exporter recorded in provenance: the one every graph was traced with; when graphs that insist on one
    differ from the rest, the one the options chose (what re-tracing with the recorded options reproduces)."""
    used = {g.dynamo if g.dynamo is not None else opts.dynamo for g in graphs}
    dynamo = used.pop() if len(used) == 1 else opts.dynamo
    return "dynamo" if dynamo else "torchscript"


def build_target(writer: BundleWriter, target, opts: ExportOptions, samples=None) -> None:
    """Compile every fp32 ONNX graph for the target (and precision). ONNX fp32 is always kept:
    it is the source for quantization, TensorRT builds on the device, and --localize."""
    if target.name == "onnx" and opts.precision == "fp32":
        return
    if opts.precision not in target.own_precisions:
        try:
            from edgetool.quantize import add_precision
        except ImportError as e:
            raise UnsupportedError(f"--target {target.name} --precision {opts.precision} needs edgetool's quantizer, "
                                   f"which this install lacks ({e}). Install it: pip install 'edgetool[quantize]', or export fp32.") from None
        add_precision(writer, target, opts, samples)  # also measures accuracy vs fp32 (golden + held-out)
        return
    build_artifacts(writer, target, target.build_options(writer.manifest, opts))
