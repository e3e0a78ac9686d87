"""`edgetool triton` and `edgetool serve` (attached to the CLI group by edgetool/cli.py)."""
from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import click


def _repo_options(fn):
    fn = click.option("--max-batch", type=int, default=8, show_default=True,
                      help="max_batch_size of every model (0: no batching).")(fn)
    fn = click.option("--instances", type=int, default=1, show_default=True, help="Model instances (instance_group).")(fn)
    fn = click.option("--backend", default=None, help="Engine inside the pipeline model: onnxruntime | openvino "
                                                      "(default: the bundle's target).")(fn)
    fn = click.option("--precision", default=None, help="Which precision of the bundle to serve (default fp32).")(fn)
    fn = click.option("--name", default=None, help="Name of the pipeline model (default: the task).")(fn)
    fn = click.option("--no-dynamic-batching", is_flag=True, help="Leave dynamic_batching out of the configs.")(fn)
    fn = click.option("--stream", is_flag=True,
                      help="Generation tasks: a decoupled model that streams the text as it is generated (gRPC "
                           "streaming), then the JSON answer.")(fn)
    return click.option("--threads", type=int, default=None, help="Engine intra-op threads per model instance.")(fn)


def _options(max_batch, instances, backend, precision, name, no_dynamic_batching, threads, stream, **extra):
    from edgetool.serve.repository import RepositoryOptions

    return RepositoryOptions(name=name, backend=backend, precision=precision, max_batch=max_batch,
                             instances=instances, dynamic_batching=not no_dynamic_batching, threads=threads,
                             stream=stream, **extra)


@click.command("triton")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--repo", type=click.Path(path_type=Path), required=True, help="Model repository directory to write.")
@click.option("--graph-backend", "graph_backends", multiple=True,
              help="Triton backend for the per-graph models: onnxruntime | openvino | tensorrt (repeatable; "
                   "default: every one the bundle has an artifact for).")
@click.option("--no-graphs", is_flag=True, help="Write only the pipeline model.")
@click.option("--bls", default=None, metavar="BACKEND",
              help="Make the pipeline model a BLS model: pre-/post-processing in Python, each graph on its model of "
                   "this Triton backend (onnxruntime | openvino | tensorrt) — the production layout.")
@click.option("--force", is_flag=True, help="Replace existing model folders of the same names.")
@_repo_options
def triton(bundle, repo, graph_backends, no_graphs, bls, force, **opts):
    """Write a Triton Inference Server model repository for BUNDLE.

    \b
    The pipeline model (Python backend) runs the edgetool pipeline: text, image or audio in, JSON out.
    Per-graph models run on Triton's onnxruntime / openvino backends with generated config.pbtxt.
    Serve it: tritonserver --model-repository REPO   (or: edgetool serve BUNDLE)
    """
    from edgetool.serve.repository import write_repository

    out = write_repository(bundle, repo, _options(**opts, graphs=not no_graphs, graph_backends=tuple(graph_backends),
                                                  force=force, bls=bls))
    click.echo(f"Triton model repository written to {out.root}")
    for m in out.models:
        click.echo(f"  model  {m}{'   (pipeline: natural inputs, JSON out)' if m == out.pipeline_model else ''}")
    for n in out.notes:
        click.echo(f"  note   {n}")


@click.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--port", type=int, default=8000, show_default=True, help="HTTP port (0: any free port).")
@click.option("--grpc-port", type=int, default=None, help="gRPC port (default: --port + 1, or any free one).")
@click.option("--metrics-port", type=int, default=None, help="Metrics port (default: --port + 2, or any free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--repo", type=click.Path(path_type=Path), default=None,
              help="Write the repository here and keep it (default: a temporary one, removed at exit).")
@click.option("--python", "python", default=None,
              help="Python of the serving environment (made from the interpreter whose libpython Triton's Python "
                   "backend loads; default: this one, $EDGETOOL_SERVE_PYTHON or ./.venv-serve).")
@click.option("--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait for the server.")
@_repo_options
def serve(bundle, port, grpc_port, metrics_port, host, repo, python, timeout, **opts):
    """Serve BUNDLE on a real Triton Inference Server (HTTP + gRPC, KServe v2); Ctrl-C stops it."""
    from edgetool.serve.repository import write_repository
    from edgetool.serve.server import start

    keep = repo is not None
    root = Path(repo) if keep else Path(tempfile.mkdtemp(prefix="edgetool-repo-"))
    try:
        out = write_repository(bundle, root, _options(**opts, graphs=False, force=keep))
        ports = [port, grpc_port or (port + 1 if port else None), metrics_port or (port + 2 if port else None)]
        server = start(out.root, [out.pipeline_model], *[p or None for p in ports], python=python, timeout=timeout,
                       host=host, threads=opts.get("threads"))
        code = _serve_until_stopped(server, out.root)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if code is not None:
        click.echo(f"tritonserver exited on its own (code {code}).", err=True)
        sys.exit(1)
    click.echo("Server stopped.")


def _serve_until_stopped(server, repo: Path) -> int | None:
    """Print the endpoints and wait for Ctrl-C / SIGTERM; stop the server in order. Returns the server's exit
    code when it died on its own (its log is shown), else None."""
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    # Ctrl-C (SIGINT) and SIGTERM both stop the server in order (handlers set even where SIGINT was ignored);
    # set before "Ctrl-C stops it." is printed, so a Ctrl-C right after that line is already ours
    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"Triton Inference Server ready in {server.startup_s:.1f} s (repository {repo})")
        click.echo(server.endpoints())
        click.echo("Ctrl-C stops it.")
        while not stop["now"] and server.alive():
            time.sleep(0.5)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        died = not server.alive()
        if died:
            click.echo(server.log()[-4000:], err=True)
        code = server.stop()
    return code if died else None


COMMANDS = (triton, serve)
