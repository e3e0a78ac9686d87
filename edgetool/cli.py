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
    if opt.type == "multi":  # repeatable: a list of strings
        return click.option(opt.flag, param, type=str, multiple=True, default=None, help=opt.help)
    return click.option(opt.flag, param, type=str if opt.type == "csv" else opt.type, default=None, help=opt.help)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgetool")
@click.option("--debug", is_flag=True, help="Show the stack trace of an error (also: EDGETOOL_DEBUG=1).")
def cli(debug):
    """edgetool: export models to ONNX / OpenVINO / TensorRT bundles and run them with a torch-free runtime.

    \b
    Typical flow:
      edgetool tasks                                  # what can be exported
      edgetool export --task classify --target openvino
      edgetool run bundles/text-classification-openvino-fp32 "I love this"
      edgetool validate bundles/text-classification-openvino-fp32   # parity gate for CI
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with each task's families).")
@click.option("--markdown", "as_markdown", is_flag=True, help="The families table of the README (task, family, "
              "model types, reference checkpoints).")
def tasks(as_json, as_markdown):
    """List every task, its aliases, whether it is implemented, and (--json) the model families that work."""
    try:
        from edgetool.export.families import exportable_tasks, family_rows

        exportable: set | None = set(exportable_tasks())
        families: list[dict] | None = family_rows() if (as_json or as_markdown) else []
    except ImportError:  # runtime-only install: export extra missing
        exportable, families = None, None
    if as_markdown:
        from edgetool.families_table import markdown_table

        click.echo(markdown_table(families or []))
        return
    rows = []
    for spec in all_tasks():
        can_export = spec.name in exportable if exportable is not None else None
        status = "implemented" if spec.implemented and can_export is not False else "not yet"
        rows.append({"task": spec.name, "aliases": list(spec.aliases), "modality": spec.modality,
                     "status": status, "summary": spec.summary,
                     "families": None if families is None else
                     [{k: v for k, v in f.items() if k != "task"} for f in families if f["task"] == spec.name]})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['task']:<30} {r['status']:<12} {', '.join(r['aliases']):<28} {r['summary']}")


def _export_switches(fn):
    """Every task's `export` switches (TaskSpec.export_options), e.g. --nms-in-graph."""
    seen = {}
    for spec in all_tasks():
        for opt in spec.export_options:
            seen.setdefault(opt.flag, opt)
    for opt in seen.values():
        fn = _click_option(opt)(fn)
    return fn


def _task_kwargs(options, values: dict, not_for: str, listed: str) -> dict:
    """The given task switches (click params -> values) as the task's keyword arguments ("csv" ones split);
    a switch the task does not define is a one-line error naming the ones it does."""
    from edgetool.runtime.errors import UsageError

    allowed = {o.flag.lstrip("-").replace("-", "_"): o for o in options}
    kwargs = {}
    for param, value in values.items():
        if value is None or value == ():  # not given (a repeatable option gives ())
            continue
        if param not in allowed:
            raise UsageError(f"--{param.replace('_', '-')} does not apply to {not_for}. Its {listed}: "
                             f"{', '.join(o.flag for o in options) or 'none'}.")
        opt = allowed[param]
        if opt.type == "csv":
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif opt.type == "multi":
            value = list(value)
        kwargs[opt.kwarg] = value
    return kwargs


def _check_output_file(path, flag: str) -> None:
    """A report path is checked before any work: a directory or a missing folder fails at once."""
    from edgetool.runtime.errors import UsageError

    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: that is a directory; give a file name, e.g. {path / 'report'}.")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder '{path.parent}' does not exist; create it or pick another path.")


def _write_text(path, text: str) -> None:
    """Write then rename: a report is either complete or absent."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _extra_for(task: str, switches: dict) -> dict:
    spec = get_task(task)
    return _task_kwargs(spec.export_options, switches, f"exporting task '{spec.name}'", "export options")


def _int8_options(fn):
    """The INT8 switches `export` and `quantize` share: method, calibration method, metric-drop gate, fallback."""
    fn = click.option("--fallback", is_flag=True,
                      help="With --max-metric-drop: keep the layers that hurt most in higher precision until the "
                           "drop is within X.")(fn)
    fn = click.option("--max-metric-drop", type=float, default=None,
                      help="Fail (write nothing) when the task metric against fp32 drops by more than X (e.g. 0.01).")(fn)
    fn = click.option("--calibration-method", default=None,
                      help="Static INT8 on ONNX Runtime: minmax | entropy | percentile.")(fn)
    fn = click.option("--lm-head", default=None,
                      help="--precision int4: the LM head's weights, int8 (default) | int4 | fp32.")(fn)
    fn = click.option("--kv-cache", default=None,
                      help="Decoder LLMs, --precision int4 / int8 on ONNX Runtime: the KV cache, fp32 (default) | "
                           "int8 (a quarter of the memory; per-channel scales calibrated on --calibration, one prompt "
                           "a line, or the built-in text; its effect is in the accuracy report).")(fn)
    return click.option("--method", default=None, help="INT8 on ONNX Runtime: dynamic | static | weight-only (default: "
                        "dynamic; static when --calibration is given; weight-only for text-generation). OpenVINO INT8: "
                        "static (NNCF), or weight-only (the default for text-generation).")(fn)


def _verify_key_option(fn):
    return click.option("--verify-key", type=click.Path(path_type=Path), default=None, metavar="PUBLIC.pem",
                        help="Refuse the bundle unless its signature (edgetool.sig) verifies with this public key "
                             "(or certificate chain) over every file. Default: $EDGETOOL_VERIFY_KEY. "
                             "Needs edgetool[verify] (or edgetool[signing]).")(fn)


def _sign_key_option(fn):
    return click.option("--sign-key", type=click.Path(path_type=Path), default=None, metavar="PRIVATE.pem",
                        help="Sign the bundle (edgetool.sig, OpenSSF Model Signing) with this private key. "
                             "Needs edgetool[signing].")(fn)


def _require_drop_for_fallback(fallback, max_metric_drop):
    if fallback and max_metric_drop is None:
        raise click.UsageError("--fallback needs --max-metric-drop X (the drop to fall back to).")


@cli.command()
@_export_switches
@click.option("--task", required=True, help="Task name or alias (see `edgetool tasks`), e.g. classify.")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Local Hugging Face checkpoint dir (config.json, model.safetensors, tokenizer.json). "
                   "Default: the task's built-in reference model.")
@click.option("--reference", default=None, help="Name of a built-in reference model (when --model is not given).")
@click.option("--target", default="onnx", show_default=True, help="onnx | openvino | trt")
@click.option("--precision", default="fp32", show_default=True, help="fp32 | fp16 | int8 | int4 (int4: weight-only, decoder LLMs)")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Bundle directory. Default: bundles/<task>-<target>-<precision>.")
@click.option("--opset", default=17, show_default=True, help="ONNX opset.")
@click.option("--dynamo/--no-dynamo", default=None,
              help="torch's exporter: dynamo or the deprecated TorchScript one. Default: the model family's "
                   "(dynamo, except where docs/decisions.md says why not); graphs that need one keep it.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="INT8 calibration data: a text file (one sample per line) or a folder of images / WAVs.")
@click.option("--calibration-size", type=int, default=None, help="Use at most N calibration samples.")
@_int8_options
@click.option("--static-shapes", default=None, help="--target openvino: fix named dims, e.g. batch=1,sequence=128.")
@click.option("--shapes", default=None, metavar="NAME=MIN,OPT,MAX;...",
              help="--target trt: optimization profile per dynamic input, e.g. 'input_ids=1x8,1x128,8x512' "
                   "(default: the task's typical shapes).")
@click.option("--workspace", "workspace_mb", type=int, default=None,
              help="--target trt: TensorRT builder workspace limit in MiB (default: TensorRT's).")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
@click.option("--no-parity-check", is_flag=True,
              help="Write the bundle even if it does not match PyTorch or the transformers pipeline's answers.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@_sign_key_option
def export(task, model, reference, target, precision, out, opset, dynamo, calibration, calibration_size, method,
           calibration_method, lm_head, kv_cache, max_metric_drop, fallback, static_shapes, shapes, workspace_mb, force,
           no_parity_check, quiet, sign_key, **switches):
    """Export a model to a bundle: trace to ONNX, compile for the target, record golden I/O, check parity.

    Fails, and writes nothing, when the exported model does not match PyTorch.
    """
    from edgetool.export.exporter import export as run_export
    from edgetool.export.options import ExportOptions

    opts = ExportOptions(task=task, model=model, reference=reference, target=target, precision=precision, out=out,
                         opset=opset, dynamo=dynamo, force=force, check_parity=not no_parity_check,
                         calibration=calibration, calibration_size=calibration_size, quiet=quiet,
                         extra=_extra_for(task, switches), shapes=shapes, workspace_mb=workspace_mb,
                         method=method, calibration_method=calibration_method, max_metric_drop=max_metric_drop,
                         fallback=fallback, static_shapes=_static_shapes(static_shapes), sign_key=sign_key,
                         lm_head=lm_head, kv_cache=kv_cache)
    _require_drop_for_fallback(fallback, max_metric_drop)
    if sign_key is not None:
        from edgetool.signing import check_private_key

        check_private_key(sign_key)  # before minutes of export
    path = run_export(opts)
    click.echo(f"Bundle written to {path}" + (f" (signed: {path / 'edgetool.sig'})" if sign_key else ""))
    from edgetool.runtime.bundle import Bundle

    manifest = Bundle.load(path).manifest
    if manifest.accuracy is not None and not quiet:
        from edgetool.quantize import format_table

        click.echo(format_table(manifest.accuracy.to_json()))

    for label, report in {k: v.to_json() for k, v in (manifest.parity or {}).items()}.items():
        if report.get("skipped"):
            click.echo(f"  {label}: not checked here ({report['skipped'].splitlines()[0]})")
        else:
            worst = max((o.get("max_abs", 0.0) for o in report["outputs"]), default=0.0)
            click.echo(f"  {label}: parity {'ok' if report['passed'] else 'FAILED'} (max abs diff {worst:.2e}, "
                       f"{report['metric']['name']} {report['metric']['value']:.3f})")


def _static_shapes(text):
    from edgetool.targets.openvino_target import parse_static_shapes

    return parse_static_shapes(text)


def _run_command():
    table = _option_table()

    @click.command(name="run")
    @click.argument("bundle", type=click.Path(path_type=Path))
    @click.argument("inputs", nargs=-1)
    @click.option("--backend", default=None, help="onnxruntime | openvino | tensorrt (default: the bundle's target).")
    @click.option("--precision", default=None, help="Which precision of the bundle to run (default fp32).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as the transformers pipeline's JSON.")
    @click.option("--threads", type=int, default=None, help="Engine intra-op threads.")
    @click.option("--build-engine", is_flag=True,
                  help="TensorRT: build the engine on this device if it is not cached yet (takes minutes).")
    @click.option("--cache-dir", default=None, type=click.Path(),
                  help="OpenVINO: model cache directory (compiled blobs; later starts skip compilation).")
    @_verify_key_option
    def run(bundle, inputs, backend, precision, as_json, threads, build_engine, cache_dir, verify_key, **task_options):
        """Run a bundle on INPUTS (texts, or image / audio file paths; '-' reads text from stdin).

        Task options (e.g. --top-k, --question/--context, --labels) apply to the tasks that define them.
        """
        from edgetool.runtime import pipeline
        from edgetool.runtime.backends import BackendOptions
        from edgetool.runtime.bundle import Bundle
        from edgetool.runtime.errors import UsageError

        b = Bundle.load(bundle, verify_key=verify_key)
        spec = get_task(b.task)
        kwargs = _task_kwargs(spec.cli_options, task_options, f"task '{spec.name}'", "options")
        items = [_read_stdin() if i == "-" else i for i in inputs]
        if spec.input_kind != "none" and not items:
            raise UsageError(f"Give an input to run task '{spec.name}' on, e.g. edgetool run {bundle} "
                             f"{'IMAGE' if spec.input_kind == 'image' else 'AUDIO.wav' if spec.input_kind == 'audio' else repr('some text')}")
        pipe = pipeline(b, backend=backend, precision=precision,
                        options=BackendOptions(threads=threads, cache_dir=cache_dir,
                                               extra={"build": True} if build_engine else {}))
        args = [] if spec.input_kind == "none" else [items[0] if len(items) == 1 else items]
        save, stream = kwargs.pop("save", None), kwargs.pop("stream", False)
        if stream:
            from edgetool.render import print_stream

            result = print_stream(iter(pipe.stream(*args, **kwargs)), click.echo)
        else:
            result = pipe(*args, **kwargs)
        if save:
            from edgetool.pictures import save_pictures
            from edgetool.runtime.preprocess.image import as_image_list

            images, single = as_image_list(args[0])
            save_pictures(spec.name, images, [result] if single else result, save)
        from edgetool.check.golden import to_jsonable
        from edgetool.render import render

        click.echo(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False) if as_json else render(spec.name, result))
        source = b.manifest.provenance.source if b.manifest.provenance else None
        if source and source.startswith("reference:"):
            click.echo(f"note: {source.split(':', 1)[1]} is edgetool's built-in tiny reference model (random weights, or "
                       "a few training steps on a built-in corpus): these answers show the tool works, not what a real "
                       "model would say. Export your own checkpoint with --model DIR (make demo runs a real one).",
                       err=True)

    for opt in table.values():
        run = _click_option(opt)(run)
    return run


cli.add_command(_run_command())


def _tolerance_overrides(values, flag: str) -> tuple[float | None, dict[str, float]]:
    """--atol 1e-3 (every output) and/or --atol logits=1e-2 (one output; 'graph/output' and * patterns work)."""
    from edgetool.runtime.errors import UsageError

    default, per_output = None, {}
    for v in values or ():
        name, sep, num = v.rpartition("=")
        try:
            x = float(num)
        except ValueError:
            raise UsageError(f"{flag} {v!r}: expected a number (e.g. {flag} 1e-3) or OUTPUT=NUMBER "
                             f"(e.g. {flag} logits=1e-3).") from None
        if x < 0:
            raise UsageError(f"{flag} {v!r}: a tolerance cannot be negative.")
        if sep:
            per_output[name.strip()] = x
        else:
            default = x
    return default, per_output


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--against", default="golden", show_default=True,
              help="golden (recorded at export; no torch needed) | torch (live PyTorch model) | "
                   "BACKEND/PRECISION of the same bundle, e.g. onnxruntime/fp32 or onnx/fp32 (the ONNX fp32 artifact "
                   "on ONNX Runtime) | another bundle's directory, optionally DIR::BACKEND/PRECISION.")
@click.option("--backend", default=None, help="Validate only this backend.")
@click.option("--precision", default=None, help="Validate only this precision.")
@click.option("--model", default=None, help="Checkpoint dir of the source model, for --against torch.")
@click.option("--inputs", type=click.Path(path_type=Path), default=None,
              help="Your own inputs instead of the golden samples: a text file (one sample per line; .jsonl for "
                   "structured calls) or a folder of images / WAV files. Needs --against torch or another artifact.")
@click.option("--limit", type=int, default=None, help="Use at most N of --inputs.")
@click.option("--atol", multiple=True, metavar="[OUTPUT=]X",
              help="Absolute tolerance for every output, or for one output (logits=1e-3), relative to the "
                   "output's scale: S = max(1, max |ref|). Repeatable.")
@click.option("--rtol", multiple=True, metavar="[OUTPUT=]X", help="Relative tolerance; same forms as --atol.")
@click.option("--stat", type=click.Choice(["max", "mean", "median", "p99"]), default="max", show_default=True,
              help="Statistic of |got-ref|/(atol*S+rtol*|ref|) that must be <= 1 (max = every element); "
                   "S = max(1, max |ref|) of the output.")
@click.option("--metric-floor", type=float, default=None, help="Override the minimum task metric.")
@click.option("--localize", is_flag=True,
              help="On failure, find the first ONNX node whose output diverges (needs the onnx package).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the report as JSON.")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), default=None,
              help="Write a JUnit XML report (one test case per output and per metric).")
@click.option("--server", default=None, metavar="URL",
              help="Validate the answers of a running Triton server (http://HOST:PORT or grpc://HOST:PORT) that serves "
                   "this bundle (edgetool serve / edgetool triton): golden samples in, task metric and answers checked.")
@click.option("--served-model", default=None, help="The pipeline model's name on --server (default: the task).")
@_verify_key_option
def validate(bundle, against, backend, precision, model, inputs, limit, atol, rtol, stat, metric_floor, localize,
             json_file, junit_file, server, served_model, verify_key):
    """Check a bundle's outputs against a reference; exit 0 parity ok, 1 parity failed, 2 bad input.

    \b
    Examples:
      edgetool validate B                            # every artifact vs golden I/O (on the device, no torch)
      edgetool validate B --against torch            # vs the live PyTorch model
      edgetool validate B --against onnx/fp32 --precision int8 --stat p99
      edgetool validate B --against torch --inputs my_texts.txt --junit parity.xml
      edgetool validate NEW_BUNDLE --against OLD_BUNDLE --localize
      edgetool validate B --server http://127.0.0.1:8000 --junit served.xml

    \b
    Tolerances scale with the reference: an output passes when every element has
    |got - ref| <= atol * S + rtol * |ref|, S = max(1, max |ref|) of that output
    (the "scaled" column is max |got - ref| / max |ref|). fp32 defaults: atol 1e-4,
    rtol 1e-3. fp16/int8 artifacts are judged by the task metric; their tensor
    statistics are shown for information.

    \b
    The golden file also holds the transformers pipeline's answers on the golden
    samples (recorded at export): each artifact's runtime answers are compared
    with them (labels, text, entities exactly; scores, boxes, embeddings within
    tolerance; fp16/int8 by the task metric), so a change in pre/post-processing
    fails here too, without torch.
    """
    if server is not None:
        return _validate_server(bundle, server, served_model, precision, metric_floor, json_file, junit_file)
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.errors import UsageError
    from edgetool.check.junit import junit_xml

    _check_output_file(json_file, "--json")
    _check_output_file(junit_file, "--junit")
    from edgetool.check.compare import format_report
    from edgetool.check.validate import ValidateOptions, reports_json, validate_bundle

    atol_all, atol_out = _tolerance_overrides(atol, "--atol")
    rtol_all, rtol_out = _tolerance_overrides(rtol, "--rtol")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}.")
    b = Bundle.load(bundle, verify_key=verify_key)
    opts = ValidateOptions(against=against, backend=backend, precision=precision, atol=atol_all, rtol=rtol_all,
                           metric_floor=metric_floor, model=model, stat=stat, inputs=inputs, output_atol=atol_out,
                           output_rtol=rtol_out, localize=localize, limit=limit)
    torch_reference = None
    if against.strip().lower() in ("torch", "pytorch"):
        try:
            from edgetool.export.live_reference import torch_reference as live
        except ImportError as e:
            raise EdgetoolError(f"--against torch needs the export extra ({e}). Install: pip install 'edgetool[export]', "
                                "or validate against the recorded golden outputs (the default).") from None
        torch_reference = lambda samples: live(b, model, samples)  # noqa: E731
    localizer = None
    if localize:
        try:
            from edgetool.export.localize import localize as localizer
        except ImportError as e:
            click.echo(f"warning: --localize needs the onnx package ({e}); pip install 'edgetool[export]'", err=True)
    reports = validate_bundle(b, opts, torch_reference=torch_reference, localizer=localizer)
    for r in reports:
        click.echo(format_report(r))
    if json_file:
        _write_text(json_file, reports_json(reports))
    if junit_file:
        _write_text(junit_file, junit_xml(reports, bundle=str(bundle)))
    checked = [r for r in reports if not r.get("skipped")]
    passed = bool(checked) and all(r["passed"] for r in checked)
    if not checked:
        click.echo("NOTHING VALIDATED: no selected artifact can run here")
        sys.exit(2)
    click.echo("PARITY OK" if passed else "PARITY FAILED")
    sys.exit(0 if passed else 1)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest.")
def inspect(bundle, as_json):
    """Show a bundle's task, labels, graphs, artifacts, provenance and last parity report."""
    from edgetool.runtime.bundle import Bundle

    b = Bundle.load(bundle)
    m = b.manifest.to_json()
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
    signed = (b.root / "edgetool.sig").is_file()
    click.echo("signed   " + ("edgetool.sig (OpenSSF Model Signing; check it: edgetool run/validate --verify-key PUB.pem)"
                              if signed else "no (edgetool sign BUNDLE --key PRIVATE.pem)"))
    for label, r in m.get("parity", {}).items():
        if r.get("skipped"):
            click.echo(f"parity   {label}: not checked ({r['skipped'].splitlines()[0]})")
        else:
            worst = max((o.get("max_abs", 0.0) for o in r["outputs"]), default=0.0)
            click.echo(f"parity   {label}: {'ok' if r['passed'] else 'FAILED'} · max abs {worst:.2e} · "
                       f"{r['metric']['name']} {r['metric']['value']:.3f}")


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--precision", required=True, help="fp16 | int8 | int4 (int4: weight-only, decoder LLMs; several precisions live side by side in one bundle).")
@click.option("--target", default=None, help="onnx | openvino (default: the bundle's target).")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="Static INT8 calibration data: a text file (one sample per line) or a folder of images / WAVs. "
                   "Default: a small built-in demo set (recorded as such in the bundle).")
@click.option("--calibration-size", type=int, default=None, help="Use at most N calibration samples (default 128).")
@_int8_options
@click.option("--static-shapes", default=None, help="OpenVINO: fix named dims, e.g. batch=1,sequence=128.")
@click.option("--no-parity-check", is_flag=True, help="Keep the artifact even if it misses the registry's thresholds.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@_sign_key_option
def quantize(bundle, precision, target, calibration, calibration_size, method, calibration_method, lm_head, kv_cache,
             max_metric_drop, fallback, static_shapes, no_parity_check, quiet, sign_key):
    """Add a precision (fp16 / int8) to an existing bundle, with an accuracy report against fp32.

    The manifest is rewritten atomically with the new artifacts' hashes; `edgetool run --precision int8`
    then picks it. Exit 1 when --max-metric-drop is exceeded (the bundle is left as it was).
    """
    from edgetool.quantize import QuantizeOptions, format_table, quantize_bundle
    from edgetool.targets.openvino_target import parse_static_shapes

    _require_drop_for_fallback(fallback, max_metric_drop)
    opts = QuantizeOptions(bundle=bundle, precision=precision, target=target, calibration=calibration,
                           calibration_size=calibration_size, method=method, calibration_method=calibration_method,
                           max_metric_drop=max_metric_drop, fallback=fallback,
                           static_shapes=parse_static_shapes(static_shapes), check_parity=not no_parity_check,
                           quiet=quiet, sign_key=sign_key, lm_head=lm_head, kv_cache=kv_cache)
    if sign_key is not None:
        from edgetool.signing import check_private_key

        check_private_key(sign_key)
    path, accuracy = quantize_bundle(opts)
    if not quiet:
        click.echo(format_table(accuracy))
    click.echo(f"Added {precision} to {path}" + (" (signed again)" if sign_key else ""))


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--backend", "backends", multiple=True, help="Bench this backend (repeatable; default: every one the bundle can run).")
@click.option("--precision", "precisions", multiple=True, help="Bench this precision (repeatable; default: all in the bundle).")
@click.option("--against", default=None, help="torch: add the transformers pipeline (PyTorch eager) on the source checkpoint.")
@click.option("--model", default=None, help="Source checkpoint dir for --against torch (default: the bundle's provenance).")
@click.option("--batch", type=int, default=1, show_default=True, help="Items per call.")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed calls per group (interleaved round-robin).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed calls per group first.")
@click.option("--threads", type=int, default=None, help="Engine intra-op threads (and torch's, for --against torch).")
@click.option("--block", type=int, default=5, show_default=True,
              help="Timed calls of one group in a row before the next group's turn (each block starts with an untimed call).")
@click.option("--inputs", type=click.Path(path_type=Path), default=None,
              help="Take the bench input from a file (text, one per line) or folder (images / WAVs) instead of the golden sample.")
@click.option("--max-new-tokens", type=int, default=None, help="Generation tasks: tokens to generate per call.")
@click.option("--no-cold-start", is_flag=True, help="Skip the fresh-process cold-start and peak-memory measurement.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the results as JSON.")
@click.option("--plot", "plot_file", type=click.Path(path_type=Path), default=None, help="Draw latency distributions to a PNG.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--server", default=None, metavar="URL",
              help="Load-test a running Triton server that serves this bundle (http://HOST:PORT or grpc://HOST:PORT): "
                   "throughput and p50/p90/p99 per --concurrency level, beside the in-process runtime.")
@click.option("--concurrency", default="1,4,16", show_default=True, help="Concurrent clients per level, for --server.")
@click.option("--requests", type=int, default=200, show_default=True, help="Requests per level, for --server.")
@click.option("--served-model", default=None, help="The pipeline model's name on --server (default: the task).")
@_verify_key_option
def bench(bundle, backends, precisions, against, model, batch, runs, warmup, threads, block, inputs, max_new_tokens,
          no_cold_start, json_file, plot_file, quiet, server, concurrency, requests, served_model, verify_key):
    """Measure cold start, warm latency (p50/p90/p99), throughput, peak memory and size of a bundle's artifacts.

    \b
    Every backend x precision of the bundle runs side by side, interleaved so machine noise hits all alike;
    ratios are against the first group and, with --against torch, the transformers pipeline.
    Examples:
      edgetool bench bundles/text-classification-openvino-fp32 --against torch --plot lat.png
      edgetool bench B --backend onnxruntime --precision fp32 --precision int8 --batch 8 --json bench.json
      edgetool bench B --server http://127.0.0.1:8000 --concurrency 1,4,16
    """
    if server is not None:
        return _bench_server(bundle, server, served_model, concurrency, requests, json_file)
    from edgetool.bench.measure import BenchOptions, bench_json, format_bench, run_bench
    from edgetool.runtime.errors import UsageError

    torch_factory = None
    if against is not None:
        if against.strip().lower() not in ("torch", "pytorch"):
            raise UsageError(f"bench --against '{against}': only 'torch' (the transformers pipeline) is a bench "
                             "baseline; other artifacts of the bundle are benched side by side by default.")
        try:
            from edgetool.export.torch_pipeline import torch_factory
        except ImportError as e:
            raise EdgetoolError(f"--against torch needs the export extra ({e}): pip install 'edgetool[export]'.") from None
    opts = BenchOptions(bundle=bundle, backends=tuple(backends), precisions=tuple(precisions),
                        against_torch=against is not None, model=model, batch=batch, runs=runs, warmup=warmup,
                        threads=threads, block=block, inputs=inputs, max_new_tokens=max_new_tokens,
                        cold_start=not no_cold_start, quiet=quiet, verify_key=verify_key)
    if plot_file is not None and Path(plot_file).suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG; give a file name ending in .png (got '{plot_file}').")
    _check_output_file(json_file, "--json")
    _check_output_file(plot_file, "--plot")
    report = run_bench(opts, torch_factory)
    click.echo(format_bench(report))
    if json_file:
        _write_text(json_file, bench_json(report))
    if plot_file:
        from edgetool.bench.plot import plot_latencies

        drawer = plot_latencies(report, plot_file)
        click.echo(f"latency plot ({drawer}) written to {plot_file}")


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--precision", default=None, help="fp32 | fp16 | int8 (default: the bundle's trt precision, else fp32).")
@click.option("--shapes", default=None, metavar="NAME=MIN,OPT,MAX;...",
              help="Replace the recipe's optimization profiles, e.g. 'input_ids=1x8,1x128,8x512'.")
@click.option("--workspace", "workspace_mb", type=int, default=None, help="Builder workspace limit in MiB.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Engine cache (default: ~/.cache/edgetool/trt).")
@click.option("--force", is_flag=True, help="Rebuild even when the cache has the engine.")
@click.option("--strongly-typed", is_flag=True,
              help="Build fp16 from the bundle's strongly typed fp16 ONNX even where TensorRT still has "
                   "BuilderFlag.FP16 (TensorRT 11 always builds strongly typed).")
def build(bundle, precision, shapes, workspace_mb, cache_dir, force, strongly_typed):
    """Build and cache a bundle's TensorRT engines on this device (needs TensorRT and an NVIDIA GPU).

    Engines are specific to the GPU model and TensorRT version, so bundles carry the ONNX and a build recipe;
    the cache key names GPU, compute capability, TensorRT version, precision, profiles and the ONNX's sha256.
    """
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.backends.tensorrt.bundle_build import TrtBuildOptions, build_bundle

    opts = TrtBuildOptions(precision=precision, shapes=shapes, workspace_mb=workspace_mb, cache_dir=cache_dir,
                           force=force, strongly_typed=strongly_typed)
    for r in build_bundle(Bundle.load(bundle), opts):
        click.echo(f"{r['graph']} ({r['precision']}): {'cached' if r['cached'] else 'built'} {r['engine']}")


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", required=True, type=click.Path(path_type=Path), metavar="PRIVATE.pem",
              help="Private key (PEM, elliptic curve, e.g. openssl ecparam -name prime256v1 -genkey -noout).")
@click.option("--cert", type=click.Path(path_type=Path), default=None, metavar="CERT.pem",
              help="Certificate mode: the key's signing certificate (verify with the chain as --verify-key).")
@click.option("--cert-chain", type=click.Path(path_type=Path), multiple=True, metavar="CHAIN.pem",
              help="Certificate mode: certificates up to the root of trust (repeatable).")
def sign(bundle, key, cert, cert_chain):
    """Sign every file of a bundle with OpenSSF Model Signing; writes BUNDLE/edgetool.sig.

    \b
    The signature is model_signing's standard format:
      model_signing verify key BUNDLE --public_key PUBLIC.pem --signature BUNDLE/edgetool.sig
    accepts it; devices check it with `edgetool run BUNDLE --verify-key PUBLIC.pem` (or EDGETOOL_VERIFY_KEY).
    """
    import time

    from edgetool.runtime.bundle import Bundle
    from edgetool.signing import check_private_key, sign_bundle

    check_private_key(key, cert, cert_chain)
    Bundle.load(bundle, verify_key="").verify_all()  # sign only what edgetool itself accepts (any old signature aside)
    t = time.perf_counter()
    sig = sign_bundle(bundle, key, cert, cert_chain)
    click.echo(f"Signed {bundle}: {sig} ({time.perf_counter() - t:.2f} s)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json):
    """What this machine can run: ONNX Runtime providers, OpenVINO devices, TensorRT / CUDA, Jetson / L4T,
    and how to install what is missing."""
    from edgetool.doctor import doctor as probe, format_doctor, summary

    rows = probe()
    click.echo(json.dumps({"components": rows, **summary(rows)}, indent=2) if as_json else format_doctor(rows))


from edgetool.serve.commands import COMMANDS as _SERVE_COMMANDS  # noqa: E402  (triton, serve)

for _command in _SERVE_COMMANDS:
    cli.add_command(_command)


def _validate_server(bundle, server, served_model, precision, metric_floor, json_file, junit_file):
    from edgetool.check.junit import junit_xml
    from edgetool.check.validate import reports_json
    from edgetool.runtime.bundle import Bundle
    from edgetool.serve.remote import format_server_report, validate_server

    _check_output_file(json_file, "--json")
    _check_output_file(junit_file, "--junit")
    report = validate_server(Bundle.load(bundle), server, served_model, precision or "fp32", metric_floor)
    click.echo(format_server_report(report))
    if json_file:
        _write_text(json_file, reports_json([report]))
    if junit_file:
        _write_text(junit_file, junit_xml([report], bundle=str(bundle)))
    click.echo("PARITY OK" if report["passed"] else "PARITY FAILED")
    sys.exit(0 if report["passed"] else 1)


def _bench_server(bundle, server, served_model, concurrency, requests, json_file):
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.errors import UsageError
    from edgetool.serve.remote import bench_server, format_server_bench

    try:
        levels = [int(c) for c in str(concurrency).split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--concurrency takes comma-separated integers, e.g. 1,4,16 (got {concurrency!r}).") from None
    _check_output_file(json_file, "--json")
    report = bench_server(Bundle.load(bundle), server, served_model, levels, requests)
    click.echo(format_server_bench(report))
    if json_file:
        _write_text(json_file, json.dumps(report, indent=2))


def _read_stdin() -> str:
    """stdin as text: UTF-8 (a BOM is dropped); anything else is a usage error naming the byte."""
    from edgetool.runtime.errors import UsageError

    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"stdin is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}). Convert it first, "
                         "e.g. iconv -f latin1 -t utf-8, or pass the text as an argument.") from None


# A package an optional part of edgetool imports lazily -> the extra that installs it.
_EXTRA_OF = {**dict.fromkeys(("torch", "transformers", "onnx", "onnxscript", "safetensors"), "export"),
             "nncf": "quantize", "onnxruntime": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt",
             "PIL": "image", "tritonclient": "serve", "pytriton": "serve"}


def _os_error_line(e: OSError) -> str:
    """One line for a failed file operation: what, where, and what to do."""
    import errno

    where = f" '{e.filename}'" if e.filename else ""
    fixes = {errno.ENOSPC: "free some space or write somewhere else (--out)",
             errno.EACCES: "check the permissions, or choose another path",
             errno.EPERM: "check the permissions, or choose another path",
             errno.EROFS: "the file system is read-only: choose a writable path (--out)",
             errno.ENOENT: "check the path",
             errno.ELOOP: "the path is a symbolic link loop: point it at a real file",
             errno.EISDIR: "give a file, not a directory",
             errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
             errno.EEXIST: "a file is in the way: a part of the path is a file, not a directory"}
    return f"error: {e.strerror or e}{where}: {fixes.get(e.errno, 'check the path and try again')}."


def _one_line_warnings() -> None:
    """A BundleWarning (e.g. a file the manifest does not list) is printed as `warning: ...` on stderr."""
    import warnings

    from edgetool.runtime.bundle import BundleWarning

    shown = warnings.showwarning
    if getattr(shown, "edgetool", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, BundleWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    show.edgetool = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv=None):
    """Entry point: never a stack trace. Exit 2: bad usage or input (one line saying what and what to do);
    1: a check failed; 3: an unexpected internal error (`--debug` or EDGETOOL_DEBUG=1 shows the stack);
    130: interrupted (nothing half-written is left: bundles are staged and renamed at the end)."""
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGETOOL_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    _one_line_warnings()
    try:
        cli.main(args=args, prog_name="edgetool", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except EdgetoolError as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; nothing half-written was left behind.", err=True)
        sys.exit(130)
    except OSError as e:
        if debug:
            raise
        click.echo(_os_error_line(e), err=True)
        sys.exit(2)
    except ModuleNotFoundError as e:
        extra = _EXTRA_OF.get((e.name or "").split(".")[0])
        if debug or extra is None:
            raise
        click.echo(f"error: this command needs {e.name}, which this install lacks: pip install 'edgetool[{extra}]' "
                   f"(edgetool doctor lists what this machine can do).", err=True)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 — the last line of defence: one line, exit 3
        if debug:
            raise
        click.echo(f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} — this is a bug "
                   "in edgetool. Re-run with --debug (or EDGETOOL_DEBUG=1) to see the stack trace, and report it.",
                   err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
