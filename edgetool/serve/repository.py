"""A Triton model repository from a bundle.

    repo/
      <name>/                 Python backend: the edgetool pipeline (natural inputs, JSON answer)
        config.pbtxt
        1/model.py            edgetool/serve/triton_model.py
        1/bundle/             the whole bundle (hash-checked when the model loads)
        warmup/               one golden sample per natural input
      <name>.<graph>/         one per graph, for Triton's own onnxruntime / openvino / tensorrt_plan backend
        config.pbtxt          names, dtypes, dims (-1 where dynamic), batching, instances, warm-up
        1/model.onnx | 1/model.xml + model.bin | (tensorrt: the ONNX; build the plan on the GPU, see docs/serve.md)
        warmup/               the golden feeds of the graph's first recorded call

The per-graph models are what a production Triton container (tritonserver with the onnxruntime and
openvino backends) serves directly; the pipeline model runs anywhere the Python backend does.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgetool.runtime.errors import UsageError, did_you_mean
from edgetool.runtime.names import graph_backends as engines_for_graph
from edgetool.serve.config import ModelConfig, Tensor, Warmup, graph_dims

GRAPH_BACKENDS = ("onnxruntime", "openvino", "tensorrt")
# the artifact format each Triton backend reads, and its file name in the model's version folder
_FORMATS = {"onnxruntime": ("onnx", "model.onnx"), "openvino": ("openvino-ir", "model.xml"),
            "tensorrt": ("onnx", "model.onnx")}
_ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "ov": "openvino", "trt": "tensorrt"}

# natural inputs of the pipeline model, per input kind (dims without the batch dim)
NATURAL_INPUTS = {
    "text": [Tensor("TEXT", "bytes", (1,)), Tensor("TEXT_PAIR", "bytes", (1,), optional=True)],
    "image": [Tensor("IMAGE", "bytes", (1,), optional=True), Tensor("IMAGE_HWC", "uint8", (-1, -1, 3), optional=True)],
    "audio": [Tensor("AUDIO", "float32", (-1,)), Tensor("SAMPLING_RATE", "int32", (1,), optional=True)],
}
OPTIONS_INPUT = Tensor("OPTIONS", "bytes", (1,), optional=True)
STREAMING_TASKS = ("text-generation", "text2text-generation", "summarization", "translation", "image-to-text")
TYPED_OUTPUTS = {
    "object-detection": [Tensor("BOXES", "float32", (-1, 4)), Tensor("SCORES", "float32", (-1,)),
                         Tensor("LABELS", "bytes", (-1,))],
    "text-classification": [Tensor("SCORES", "float32", (-1,)), Tensor("LABELS", "bytes", (-1,))],
    "image-classification": [Tensor("SCORES", "float32", (-1,)), Tensor("LABELS", "bytes", (-1,))],
    "audio-classification": [Tensor("SCORES", "float32", (-1,)), Tensor("LABELS", "bytes", (-1,))],
    "automatic-speech-recognition": [Tensor("TEXT", "bytes", (1,))],
}


@dataclass
class RepositoryOptions:
    """Shared by `edgetool triton`, `edgetool serve` and the Python API."""

    name: str | None = None  # the pipeline model's name (default: the task)
    backend: str | None = None  # engine inside the pipeline model (default: the bundle's target)
    precision: str | None = None
    max_batch: int = 8  # max_batch_size of every model (0 disables batching)
    instances: int = 1  # instance_group count
    dynamic_batching: bool = True
    queue_delay_us: int = 500
    threads: int | None = None  # engine intra-op threads inside each pipeline instance
    graphs: bool = True  # also write the per-graph models
    graph_backends: tuple[str, ...] = ()  # Triton backends for them (default: every one the bundle has an artifact for)
    force: bool = False  # replace an existing model folder of the same name
    bls: str | None = None  # the pipeline model calls the per-graph models of this Triton backend (BLS)
    stream: bool = False  # generation tasks: a decoupled model that sends the text as it is generated (gRPC)


@dataclass
class Repository:
    root: Path
    pipeline_model: str
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


def _check(opts: RepositoryOptions) -> None:
    if opts.max_batch < 0:
        raise UsageError(f"--max-batch must be >= 0 (0 disables batching), got {opts.max_batch}.")
    if opts.instances < 1:
        raise UsageError(f"--instances must be >= 1, got {opts.instances}.")


def write_repository(bundle_path, repo: Path, opts: RepositoryOptions | None = None) -> Repository:
    """Write (or add to) a Triton model repository for the bundle; every file of the bundle is hash-checked first."""
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.tasks import get_task

    opts = opts or RepositoryOptions()
    _check(opts)
    bundle = Bundle.load(bundle_path)
    bundle.verify_all()
    spec = get_task(bundle.task)
    if spec.input_kind not in NATURAL_INPUTS:
        raise UsageError(f"Task '{bundle.task}' takes no single natural input (input kind '{spec.input_kind}'); "
                         f"the Triton pipeline model serves text, image and audio tasks.")
    backend = _pipeline_backend(bundle, opts.backend)
    repo = Path(repo)
    repo.mkdir(parents=True, exist_ok=True)
    name = safe_name(opts.name or bundle.task)
    out = Repository(repo, name)
    graph_backends = list(opts.graph_backends or _graph_backends(bundle))
    bls = _ALIASES.get(opts.bls, opts.bls) if opts.bls else None
    if bls is not None:
        if bls not in GRAPH_BACKENDS:
            raise UsageError(f"--bls names the Triton backend of the graph models the pipeline model calls: one of "
                             f"{', '.join(GRAPH_BACKENDS)} (got '{opts.bls}').{did_you_mean(opts.bls, GRAPH_BACKENDS)}")
        if not opts.graphs:
            raise UsageError("--bls calls the per-graph models: drop --no-graphs.")
        graph_backends = graph_backends if bls in graph_backends else graph_backends + [bls]
        graph_models = {g: f"{name}.{safe_name(g)}.{bls}" for g in bundle.graphs if _runs(g, bls)}
        precision = _graph_precision(bundle, opts)  # what each graph model serves: its I/O (Bundle.graph_spec)
        served = {g: _graph_artifact(bundle, g, bls, precision) for g in graph_models}
        graph_artifacts = {g: art.id for g, art in served.items() if art is not None}
    _write_pipeline_model(bundle, spec, repo, name, backend, opts, graph_models if bls else None,
                          graph_artifacts if bls else None)
    out.models.append(name)
    if opts.graphs:
        for be in graph_backends:
            written, note = _write_graph_models(bundle, repo, name, _ALIASES.get(be, be), opts)
            out.models.extend(written)
            if note:
                out.notes.append(note)
    return out


def _runs(graph: str, backend: str) -> bool:
    """Whether a Triton backend runs `graph` (another engine's form of a graph, e.g. ONNX Runtime's fused decoder,
    is left to that engine: names.ALTERNATIVE_GRAPHS)."""
    only = engines_for_graph(graph)
    return only is None or backend in only


def _pipeline_backend(bundle, backend: str | None) -> str | None:
    if backend is None:
        return None
    from edgetool.runtime.backends import ALIASES, BACKENDS

    key = ALIASES.get(backend.lower(), backend.lower())
    if key not in BACKENDS:
        raise UsageError(f"Unknown backend '{backend}'.{did_you_mean(backend, BACKENDS)} Known: {', '.join(BACKENDS)}.")
    return key


def _graph_backends(bundle) -> list[str]:
    formats = {a.format for a in bundle.artifacts}
    return [be for be in ("onnxruntime", "openvino") if _FORMATS[be][0] in formats]


def _fresh(folder: Path, force: bool) -> Path:
    if folder.exists():
        if not force:
            raise UsageError(f"{folder} already exists; pass --force to replace it, or choose another --repo / --name.")
        shutil.rmtree(folder)
    (folder / "1").mkdir(parents=True)
    return folder


def _write_pipeline_model(bundle, spec, repo: Path, name: str, backend: str | None, opts: RepositoryOptions,
                          graph_models: dict[str, str] | None = None,
                          graph_artifacts: dict[str, str] | None = None) -> None:
    folder = _fresh(repo / name, opts.force)
    shutil.copy2(Path(__file__).with_name("triton_model.py"), folder / "1" / "model.py")
    shutil.copytree(bundle.root, folder / "1" / "bundle")
    stream = opts.stream
    if stream and bundle.task not in STREAMING_TASKS:
        raise UsageError(f"--stream sends generated text as it comes; task '{bundle.task}' does not generate text "
                         f"(streaming tasks: {', '.join(STREAMING_TASKS)}). Drop --stream.")
    outputs = [Tensor("JSON", "bytes", (1,))] + TYPED_OUTPUTS.get(bundle.task, []) + \
        ([Tensor("TEXT_PIECE", "bytes", (1,))] if stream else [])
    params = {"bundle": "bundle", "task": bundle.task, "backend": backend or "", "precision": opts.precision or "",
              "threads": str(opts.threads or 0), "graph_models": json.dumps(graph_models or {}),
              "graph_artifacts": json.dumps(graph_artifacts or {}),
              "stream": "1" if stream else ""}
    # a decoupled model answers one request at a time with many responses: no server-side batching
    cfg = ModelConfig(name=name, backend="python", inputs=NATURAL_INPUTS[spec.input_kind] + [OPTIONS_INPUT],
                      outputs=outputs, max_batch_size=0 if stream else opts.max_batch, decoupled=stream,
                      dynamic_batching=opts.dynamic_batching and not stream,
                      queue_delay_us=opts.queue_delay_us, instances=opts.instances, parameters=params,
                      # a BLS model's warm-up would call graph models Triton may not have loaded yet
                      # (and a decoupled model's warm-up response has no caller to go to)
                      warmup=[] if graph_models or stream else _pipeline_warmup(bundle, spec.input_kind, folder,
                                                                                 opts.max_batch > 0))
    (folder / "config.pbtxt").write_text(cfg.render(), encoding="utf-8")


def _golden(bundle):
    from edgetool.check import golden

    try:
        return golden.load(bundle)
    except Exception:  # noqa: BLE001 — a bundle without golden I/O is served without warm-up
        return None


def _write_raw(folder: Path, fname: str, arr: np.ndarray) -> str:
    """Triton warm-up data files: raw little-endian values; BYTES as 4-byte length + bytes per element."""
    (folder / "warmup").mkdir(exist_ok=True)
    path = folder / "warmup" / fname
    if arr.dtype == object:
        path.write_bytes(b"".join(len(b).to_bytes(4, "little") + b for b in (bytes(x) for x in arr.ravel())))
    else:
        path.write_bytes(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    return fname


def _pipeline_warmup(bundle, kind: str, folder: Path, batches: bool) -> list[Warmup]:
    golden = _golden(bundle)
    if golden is None or not golden.samples or not golden.samples[0].args:
        return []
    x = golden.samples[0].args[0]
    if kind == "text" and isinstance(x, str):
        name, arr = "TEXT", np.asarray([x.encode("utf-8")], object)
    elif kind == "image" and isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[-1] == 3:
        name, arr = "IMAGE_HWC", x.astype(np.uint8)
    elif kind == "audio" and isinstance(x, np.ndarray) and x.ndim == 1:
        name, arr = "AUDIO", x.astype(np.float32)
    else:
        return []
    dt = "bytes" if arr.dtype == object else str(arr.dtype)
    dims = tuple(arr.shape)
    return [Warmup("golden-0", 1 if batches else 0, {name: (dt, dims, _write_raw(folder, f"golden0_{name}", arr))})]


def _graph_warmup(bundle, spec, folder: Path, batches: bool) -> list[Warmup]:
    golden = _golden(bundle)
    call = next((c for calls in (golden.calls if golden else []) for c in calls if c.graph == spec.name), None)
    if call is None:
        return []
    dtypes = {t.name: t.dtype for t in spec.inputs}  # the artifact's (an int8 KV cache: quantize/kv_cache.py)
    inputs = {}
    for n, a in call.feeds.items():
        a = np.asarray(a)
        if n in dtypes and str(a.dtype) != dtypes[n]:
            if a.size:
                return []  # fp32's cache is not the artifact's: only an empty one (a first step) converts
            a = a.astype(dtypes[n])
        if batches and (a.ndim == 0 or a.shape[0] != 1):
            return []  # a warm-up batch of another size would need its own config; skip rather than guess
        dims = tuple(a.shape[1:] if batches else a.shape)
        inputs[n] = (str(a.dtype), dims, _write_raw(folder, f"golden0_{safe_name(n)}", a))
    return [Warmup("golden-0", 1 if batches else 0, inputs)]


def _graph_precision(bundle, opts: RepositoryOptions) -> str:
    return opts.precision or ("fp32" if "fp32" in bundle.precisions else bundle.precisions[0])


def _graph_artifact(bundle, graph: str, backend: str, precision: str):
    """The artifact a graph model of this Triton backend serves (None: the bundle has none)."""
    fmt = _FORMATS[backend][0]
    return next((a for a in bundle.artifacts if a.graph == graph and a.precision == precision and a.format == fmt),
                None)


def _write_graph_models(bundle, repo: Path, name: str, backend: str, opts: RepositoryOptions) -> tuple[list[str], str]:
    if backend not in GRAPH_BACKENDS:
        raise UsageError(f"Unknown Triton backend '{backend}'.{did_you_mean(backend, GRAPH_BACKENDS)} "
                         f"Known: {', '.join(GRAPH_BACKENDS)}.")
    fmt, fname = _FORMATS[backend]
    precision = _graph_precision(bundle, opts)
    written = []
    for graph in bundle.graphs:
        if not _runs(graph, backend):
            continue
        art = _graph_artifact(bundle, graph, backend, precision)
        if art is None:
            return written, (f"no {precision} {fmt} artifact for graph '{graph}': no {backend} models written "
                             f"(export with --target {'openvino' if backend == 'openvino' else 'onnx'})")
        spec = bundle.graph_spec(art)  # its own dtypes where it changed them
        model = f"{name}.{safe_name(graph)}.{backend}"
        folder = _fresh(repo / model, opts.force)
        for rel in art.files:  # .xml and .bin travel together; the main file gets Triton's default name
            src = bundle.file(rel)
            dst = fname if rel == art.path else (Path(fname).with_suffix(Path(rel).suffix).name
                                                 if fmt == "openvino-ir" else Path(rel).name)
            shutil.copy2(src, folder / "1" / dst)
        io = [graph_dims(t.shape) for t in spec.inputs + spec.outputs]
        batches = opts.max_batch > 0 and all(b for b, _ in io)
        max_batch = opts.max_batch if batches else 0
        def tensors(ts, batches=batches):  # noqa: E306
            return [Tensor(t.name, t.dtype, graph_dims(t.shape)[1] if batches else
                           tuple(-1 if isinstance(d, str) else int(d) for d in t.shape)) for t in ts]
        cfg = ModelConfig(name=model, backend=backend, inputs=tensors(spec.inputs), outputs=tensors(spec.outputs),
                          max_batch_size=max_batch, dynamic_batching=opts.dynamic_batching and batches,
                          queue_delay_us=opts.queue_delay_us, instances=opts.instances,
                          default_model_filename="model.plan" if backend == "tensorrt" else fname,
                          warmup=_graph_warmup(bundle, spec, folder, batches),
                          parameters={"edgetool_graph": graph, "edgetool_precision": precision})
        (folder / "config.pbtxt").write_text(cfg.render(), encoding="utf-8")
        written.append(model)
    note = ""
    if backend == "tensorrt":
        note = ("tensorrt models hold the ONNX as model.onnx: build model.plan on the serving GPU "
                "(trtexec --onnx=model.onnx --saveEngine=model.plan) before loading them")
    return written, note
