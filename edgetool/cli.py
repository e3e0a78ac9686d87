"""The `edgetool` command line. Heavy modules are imported inside the commands, so `--help` is instant."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgetool.runtime.errors import EdgetoolError
from edgetool.runtime.tasks import CliOption, all_tasks, get_task


def _option_table() -> dict[str, CliOption]:
    """Every task's `run` options, by flag (the registry decides which task accepts which)."""
    table: dict[str, CliOption] = {}
    for spec in all_tasks():
        for opt in spec.cli_options:
            table.setdefault(opt.flag, opt)
    return table


def _click_option(opt: CliOption):
    param = opt.flag.lstrip("-").replace("-", "_")
    if opt.type is bool:
        return click.option(opt.flag, param, is_flag=True, default=None, help=opt.help)
    return click.option(opt.flag, param, type=str if opt.type == "csv" else opt.type, default=None, help=opt.help)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgetool")
def cli():
    """edgetool: export models to ONNX / OpenVINO / TensorRT bundles and run them with a torch-free runtime.

    \b
    Typical flow:
      edgetool tasks                                  # what can be exported
      edgetool export --task classify --target openvino
      edgetool run bundles/text-classification-openvino-fp32 "I love this"
      edgetool validate bundles/text-classification-openvino-fp32   # parity gate for CI
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks(as_json):
    """List every task, its aliases, and whether it is implemented."""
    try:
        from edgetool.export.recipes import implemented_tasks

        exportable = set(implemented_tasks())
    except ImportError:  # runtime-only install: export extra missing
        exportable = None
    rows = []
    for spec in all_tasks():
        can_export = spec.name in exportable if exportable is not None else None
        status = "implemented" if spec.implemented and can_export is not False else "not yet"
        rows.append({"task": spec.name, "aliases": list(spec.aliases), "modality": spec.modality,
                     "status": status, "summary": spec.summary})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['task']:<30} {r['status']:<12} {', '.join(r['aliases']):<28} {r['summary']}")


@cli.command()
@click.option("--task", required=True, help="Task name or alias (see `edgetool tasks`), e.g. classify.")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Local Hugging Face checkpoint dir (config.json, model.safetensors, tokenizer.json). "
                   "Default: the task's built-in reference model.")
@click.option("--reference", default=None, help="Name of a built-in reference model (when --model is not given).")
@click.option("--target", default="onnx", show_default=True, help="onnx | openvino | trt")
@click.option("--precision", default="fp32", show_default=True, help="fp32 | fp16 | int8")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Bundle directory. Default: bundles/<task>-<target>-<precision>.")
@click.option("--opset", default=17, show_default=True, help="ONNX opset.")
@click.option("--dynamo/--no-dynamo", default=False, show_default=True,
              help="Use torch's dynamo exporter (slower) instead of TorchScript.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="INT8 calibration data: a text file (one sample per line) or a folder of images / WAVs.")
@click.option("--calibration-size", type=int, default=None, help="Use at most N calibration samples.")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
@click.option("--no-parity-check", is_flag=True, help="Write the bundle even if it does not match PyTorch.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def export(task, model, reference, target, precision, out, opset, dynamo, calibration, calibration_size, force,
           no_parity_check, quiet):
    """Export a model to a bundle: trace to ONNX, compile for the target, record golden I/O, check parity.

    Fails, and writes nothing, when the exported model does not match PyTorch.
    """
    from edgetool.export.exporter import export as run_export
    from edgetool.export.options import ExportOptions

    opts = ExportOptions(task=task, model=model, reference=reference, target=target, precision=precision, out=out,
                         opset=opset, dynamo=dynamo, force=force, check_parity=not no_parity_check,
                         calibration=calibration, calibration_size=calibration_size, quiet=quiet)
    path = run_export(opts)
    click.echo(f"Bundle written to {path}")
    from edgetool.runtime.bundle import Bundle

    for label, report in Bundle.load(path).manifest.get("parity", {}).items():
        if report.get("skipped"):
            click.echo(f"  {label}: not checked here ({report['skipped'].splitlines()[0]})")
        else:
            worst = max((o.get("max_abs", 0.0) for o in report["outputs"]), default=0.0)
            click.echo(f"  {label}: parity {'ok' if report['passed'] else 'FAILED'} (max abs diff {worst:.2e}, "
                       f"{report['metric']['name']} {report['metric']['value']:.3f})")


def _run_command():
    table = _option_table()

    @click.command(name="run")
    @click.argument("bundle", type=click.Path(path_type=Path))
    @click.argument("inputs", nargs=-1)
    @click.option("--backend", default=None, help="onnxruntime | openvino | tensorrt (default: the bundle's target).")
    @click.option("--precision", default=None, help="Which precision of the bundle to run (default fp32).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as the transformers pipeline's JSON.")
    @click.option("--threads", type=int, default=None, help="Engine intra-op threads.")
    def run(bundle, inputs, backend, precision, as_json, threads, **task_options):
        """Run a bundle on INPUTS (texts, or image / audio file paths; '-' reads text from stdin).

        Task options (e.g. --top-k, --question/--context, --labels) apply to the tasks that define them.
        """
        from edgetool.runtime import pipeline
        from edgetool.runtime.backends import BackendOptions
        from edgetool.runtime.bundle import Bundle
        from edgetool.runtime.errors import UsageError

        b = Bundle.load(bundle)
        spec = get_task(b.task)
        allowed = {o.flag.lstrip("-").replace("-", "_"): o for o in spec.cli_options}
        kwargs = {}
        for param, value in task_options.items():
            if value is None:
                continue
            if param not in allowed:
                flag = "--" + param.replace("_", "-")
                raise UsageError(f"{flag} does not apply to task '{spec.name}'. Its options: "
                                 f"{', '.join(o.flag for o in spec.cli_options) or 'none'}.")
            opt = allowed[param]
            kwargs[opt.kwarg] = [v.strip() for v in value.split(",") if v.strip()] if opt.type == "csv" else value
        items = [sys.stdin.read() if i == "-" else i for i in inputs]
        if spec.input_kind != "none" and not items:
            raise UsageError(f"Give an input to run task '{spec.name}' on, e.g. edgetool run {bundle} "
                             f"{'IMAGE' if spec.input_kind == 'image' else 'AUDIO.wav' if spec.input_kind == 'audio' else repr('some text')}")
        pipe = pipeline(b, backend=backend, precision=precision, options=BackendOptions(threads=threads))
        args = [] if spec.input_kind == "none" else [items[0] if len(items) == 1 else items]
        result = pipe(*args, **kwargs)
        from edgetool.runtime.golden import to_jsonable

        click.echo(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False) if as_json else pipe.format(result))

    for opt in table.values():
        run = _click_option(opt)(run)
    return run


cli.add_command(_run_command())


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--against", default="golden", show_default=True,
              help="golden (recorded at export; no torch needed) | torch (live PyTorch model) | "
                   "BACKEND/PRECISION of the same bundle, e.g. onnxruntime/fp32.")
@click.option("--backend", default=None, help="Validate only this backend.")
@click.option("--precision", default=None, help="Validate only this precision.")
@click.option("--model", default=None, help="Checkpoint dir of the source model, for --against torch.")
@click.option("--atol", type=float, default=None, help="Override the absolute tolerance.")
@click.option("--rtol", type=float, default=None, help="Override the relative tolerance.")
@click.option("--metric-floor", type=float, default=None, help="Override the minimum task metric.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the report as JSON.")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), default=None, help="Write a JUnit XML report.")
def validate(bundle, against, backend, precision, model, atol, rtol, metric_floor, json_file, junit_file):
    """Check a bundle's outputs against a reference; exit 1 when parity fails, 2 on bad input."""
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.junit import junit_xml
    from edgetool.runtime.validate import ValidateOptions, format_report, validate_bundle

    b = Bundle.load(bundle)
    opts = ValidateOptions(against=against, backend=backend, precision=precision, atol=atol, rtol=rtol,
                           metric_floor=metric_floor, model=model)
    reference = None
    if against == "torch":
        try:
            from edgetool.export.live_reference import torch_reference
        except ImportError as e:
            raise EdgetoolError(f"--against torch needs the export extra ({e}). Install: pip install 'edgetool[export]', "
                                "or validate against the recorded golden outputs (the default).") from None
        reference = torch_reference(b, model)
    reports = validate_bundle(b, opts, reference)
    for r in reports:
        click.echo(format_report(r))
    if json_file:
        Path(json_file).write_text(json.dumps(reports, indent=2), encoding="utf-8")
    if junit_file:
        Path(junit_file).write_text(junit_xml(reports), encoding="utf-8")
    passed = all(r["passed"] for r in reports)
    click.echo("PARITY OK" if passed else "PARITY FAILED")
    sys.exit(0 if passed else 1)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest.")
def inspect(bundle, as_json):
    """Show a bundle's task, labels, graphs, artifacts, provenance and last parity report."""
    from edgetool.runtime.bundle import Bundle

    b = Bundle.load(bundle)
    m = b.manifest
    if as_json:
        click.echo(json.dumps(m, indent=2, ensure_ascii=False))
        return
    prov = m.get("provenance", {})
    click.echo(f"bundle   {b.root}\ntask     {b.task}\nsource   {prov.get('source')} (sha256 {str(prov.get('source_sha256'))[:12]}…)")
    click.echo(f"model    {prov.get('architecture')} · exporter {prov.get('exporter')} · opset {prov.get('opset')}")
    if b.id2label:
        click.echo(f"labels   {', '.join(f'{k}:{v}' for k, v in sorted(b.id2label.items())[:20])}")
    for g in b.graphs.values():
        click.echo(f"graph    {g.name}")
        for t in g.inputs:
            click.echo(f"  in     {t.name:<28} {t.dtype:<8} {list(t.shape)}")
        for t in g.outputs:
            click.echo(f"  out    {t.name:<28} {t.dtype:<8} {list(t.shape)}")
    click.echo("artifacts")
    for a in b.artifacts:
        size = sum((b.root / f).stat().st_size for f in a.files if (b.root / f).exists())
        click.echo(f"  {a.id:<32} {a.format:<14} {size / 1e6:8.2f} MB  sha256 {a.files[a.path][:12]}…")
    click.echo("versions " + ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items() if v))
    for label, r in m.get("parity", {}).items():
        if r.get("skipped"):
            click.echo(f"parity   {label}: not checked ({r['skipped'].splitlines()[0]})")
        else:
            worst = max((o.get("max_abs", 0.0) for o in r["outputs"]), default=0.0)
            click.echo(f"parity   {label}: {'ok' if r['passed'] else 'FAILED'} · max abs {worst:.2e} · "
                       f"{r['metric']['name']} {r['metric']['value']:.3f}")


def main(argv=None):
    """Entry point: EdgetoolErrors become one clear line and an exit code, never a stack trace."""
    try:
        cli.main(args=argv, prog_name="edgetool", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except EdgetoolError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; nothing half-written was left behind.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
