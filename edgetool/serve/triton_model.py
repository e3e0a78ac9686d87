"""The Triton Python-backend model: copied as `model.py` into the repository's pipeline model.

It runs the edgetool runtime pipeline (pre-processing, engine, post-processing) on the bundle copied
next to it, and answers each request with the pipeline's JSON plus typed tensors where natural. A bad
request gets a Triton error for that request only; the model stays loaded. A bundle whose files do not
match their sha256 makes `initialize` fail, so Triton refuses to load the model. With the parameter
`graph_models` (written by `edgetool triton --bls BACKEND`) the model is a BLS model: pre- and
post-processing run here and each graph runs on its own model of Triton's onnxruntime / openvino /
tensorrt_plan backend — the layout of a production Triton container.

Inputs (the batch dim comes first; each row is one item):
  text:  TEXT  BYTES [1]                       utf-8 text
         TEXT_PAIR BYTES [1] (optional)        the second text: the item is {"text", "text_pair"}
  image: IMAGE BYTES [1]  (encoded PNG/JPEG/...)  or  IMAGE_HWC UINT8 [-1, -1, 3]
  audio: AUDIO FP32 [-1] (mono samples)  +  SAMPLING_RATE INT32 [1] (optional; default: the model's rate)
  every task: OPTIONS BYTES [1] (optional) — a JSON object of the pipeline's keyword options, e.g. {"top_k": 3}
Outputs: JSON BYTES [1] (the answer, as the in-process pipeline gives it) and the typed tensors of
`typed_outputs` (padded to the longest row of a batch: SCORES 0, LABELS "", BOXES 0).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

pb_utils = None  # triton_python_backend_utils: importable only inside Triton's Python backend

NOT_OPTIONS = {"save"}  # keyword options a remote caller may not set (save writes files on the server)


def typed_outputs(task: str, result) -> dict[str, np.ndarray]:
    """Typed tensors for one item's answer (without the batch dim)."""
    if task == "object-detection":
        return {"BOXES": np.asarray([[d["box"][k] for k in ("xmin", "ymin", "xmax", "ymax")] for d in result],
                                    np.float32).reshape(-1, 4),
                "SCORES": np.asarray([d["score"] for d in result], np.float32),
                "LABELS": np.asarray([d["label"].encode() for d in result], object)}
    if task in ("text-classification", "image-classification", "audio-classification"):
        rows = result if isinstance(result, list) else [result]
        return {"SCORES": np.asarray([d["score"] for d in rows], np.float32),
                "LABELS": np.asarray([d["label"].encode() for d in rows], object)}
    if task == "automatic-speech-recognition":
        return {"TEXT": np.asarray([result["text"].encode()], object)}
    return {}


def pad_stack(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different lengths in one batch tensor: padded with 0 (b"" for BYTES) to the longest."""
    shape = tuple(max(r.shape[d] for r in rows) for d in range(rows[0].ndim))
    fill = b"" if rows[0].dtype == object else 0
    out = np.full((len(rows),) + shape, fill, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[(i,) + tuple(slice(0, s) for s in r.shape)] = r
    return out


class RequestError(ValueError):
    """A request the model cannot answer (its message goes back to the caller)."""


def _bytes_item(value) -> bytes:
    return value if isinstance(value, bytes) else bytes(value) if isinstance(value, (bytearray, np.bytes_)) \
        else str(value).encode()


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(f"{name} must be utf-8 ({e}).") from None


def _options(tensor) -> list[dict]:
    if tensor is None:
        return []
    out = []
    for raw in np.asarray(tensor).reshape(len(tensor), -1)[:, 0]:
        try:
            opts = json.loads(_bytes_item(raw).decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(f"OPTIONS must be a JSON object of pipeline options, e.g. {{\"top_k\": 3}} ({e}).") \
                from None
        if not isinstance(opts, dict):
            raise RequestError(f"OPTIONS must be a JSON object, got {type(opts).__name__}.")
        bad = NOT_OPTIONS & set(opts)
        if bad:
            raise RequestError(f"OPTIONS {sorted(bad)} cannot be set by a remote caller.")
        out.append(opts)
    return out


def request_items(kind: str, get, max_bytes: int) -> tuple[list, list[dict]]:
    """(items, per-item kwargs) from a request's input tensors; get(name) -> numpy array or None."""
    def check_rows(arr, name):
        if arr is None:
            return None
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise RequestError(f"{name} has no rows (shape {list(arr.shape)}); send at least one item.")
        if arr.dtype != object and arr.nbytes > max_bytes:
            raise RequestError(f"{name} is {arr.nbytes} bytes; this model takes at most {max_bytes} per request.")
        return arr

    kwargs: list[dict] = []
    if kind == "text":
        arr = check_rows(get("TEXT"), "TEXT")
        if arr is None:
            raise RequestError("Send the text as TEXT (BYTES, shape [batch, 1]).")
        items = []
        for raw in arr.reshape(arr.shape[0], -1)[:, 0]:
            data = _bytes_item(raw)
            if len(data) > max_bytes:
                raise RequestError(f"TEXT item is {len(data)} bytes; this model takes at most {max_bytes}.")
            items.append(_utf8(data, "TEXT"))
        pair = check_rows(get("TEXT_PAIR"), "TEXT_PAIR")
        if pair is not None:
            pairs = [_utf8(_bytes_item(raw), "TEXT_PAIR") for raw in pair.reshape(pair.shape[0], -1)[:, 0]]
            if len(pairs) != len(items):
                raise RequestError(f"TEXT_PAIR has {len(pairs)} rows for {len(items)} TEXT rows.")
            items = [{"text": t, "text_pair": p} for t, p in zip(items, pairs)]
    elif kind == "image":
        enc, hwc = check_rows(get("IMAGE"), "IMAGE"), check_rows(get("IMAGE_HWC"), "IMAGE_HWC")
        if (enc is None) == (hwc is None):
            raise RequestError("Send one of IMAGE (encoded bytes, BYTES [batch, 1]) or IMAGE_HWC (UINT8 "
                               "[batch, H, W, 3]).")
        if enc is not None:
            items = [_bytes_item(raw) for raw in enc.reshape(enc.shape[0], -1)[:, 0]]
            if any(len(i) > max_bytes for i in items):
                raise RequestError(f"IMAGE item is larger than {max_bytes} bytes.")
        else:
            if hwc.dtype != np.uint8 or hwc.ndim != 4 or hwc.shape[-1] != 3:
                raise RequestError(f"IMAGE_HWC must be UINT8 [batch, H, W, 3], got {hwc.dtype} {list(hwc.shape)}.")
            items = list(hwc)
    elif kind == "audio":
        wave = check_rows(get("AUDIO"), "AUDIO")
        if wave is None:
            raise RequestError("Send the audio as AUDIO (FP32 mono samples, shape [batch, samples]).")
        if wave.ndim != 2 or wave.shape[1] == 0:
            raise RequestError(f"AUDIO must be [batch, samples] with samples > 0, got {list(wave.shape)}.")
        items = list(wave.astype(np.float32, copy=False))
        rate = get("SAMPLING_RATE")
        if rate is not None:
            rates = np.asarray(rate).reshape(-1)
            if rates.size != len(items):
                raise RequestError(f"SAMPLING_RATE has {rates.size} values for {len(items)} AUDIO rows.")
            kwargs = [{"sampling_rate": int(r)} for r in rates]
    else:
        raise RequestError(f"Inputs of kind '{kind}' are not served.")
    opts = _options(get("OPTIONS"))
    if opts and len(opts) != len(items):
        raise RequestError(f"OPTIONS has {len(opts)} rows for {len(items)} items.")
    kwargs = kwargs or [{} for _ in items]
    for i, o in enumerate(opts):
        kwargs[i] = {**o, **kwargs[i]}
    return items, kwargs


def answer(pipe, task: str, items: list, kwargs: list[dict]) -> dict[str, np.ndarray]:
    """Run each item through the pipeline: {output name: batch tensor}."""
    from edgetool.check.golden import to_jsonable

    results, typed = [], []
    for item, kw in zip(items, kwargs):
        try:
            result = to_jsonable(pipe(item, **kw))
        except TypeError as e:  # an OPTIONS key the pipeline does not take
            raise RequestError(f"Bad OPTIONS for {task}: {e}") from None
        results.append(json.dumps(result, ensure_ascii=False).encode("utf-8"))
        typed.append(typed_outputs(task, result))
    out = {"JSON": np.asarray(results, object).reshape(-1, 1)}
    for name in typed[0]:
        out[name] = pad_stack([t[name] for t in typed])
    return out


class TritonPythonModel:
    def initialize(self, args):
        global pb_utils
        import triton_python_backend_utils as pb_utils  # noqa: F811  (only exists inside Triton)

        from edgetool.runtime import pipeline
        from edgetool.runtime.backends import BackendOptions
        from edgetool.runtime.bundle import Bundle
        from edgetool.runtime.errors import EdgetoolError
        from edgetool.runtime.tasks import get_task

        self.explained = (RequestError, EdgetoolError)  # their messages already say what to send instead

        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        root = Path(args["model_repository"]) / args["model_version"] / params.get("bundle", "bundle")
        bundle = Bundle.load(root)
        bundle.verify_all()  # a tampered bundle must not load, whatever files the pipeline opens first
        threads = int(params.get("threads", "0")) or None
        graph_models = json.loads(params.get("graph_models") or "{}")
        if graph_models:  # BLS: NumPy pre-/post-processing here, each graph on its own Triton model
            from edgetool.runtime.pipelines import pipeline_class

            # each graph model serves one artifact; the pipeline reads its dtypes from it (e.g. an int8 KV cache)
            by_id = {a.id: a for a in bundle.artifacts}
            served = json.loads(params.get("graph_artifacts") or "{}")
            engines = {g: TritonGraphEngine(m, bundle.graphs[g], by_id.get(served.get(g, "")))
                       for g, m in graph_models.items()}
            self.pipe = pipeline_class(get_task(bundle.task))(bundle, engines=engines)
        else:
            self.pipe = pipeline(bundle, backend=params.get("backend") or None,
                                 precision=params.get("precision") or None, options=BackendOptions(threads=threads))
        self.task = bundle.task
        self.kind = get_task(bundle.task).input_kind
        self.max_bytes = int(params.get("max_request_bytes", str(16 << 20)))
        self.output_names = [o["name"] for o in config.get("output", [])]
        self.stream = bool(params.get("stream"))
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    def execute(self, requests):
        if self.stream:
            for request in requests:
                self._stream(request)
            return None  # decoupled: every response went through the request's sender
        responses = []
        for request in requests:
            try:
                items, kwargs = request_items(self.kind, lambda n, request=request: _input(request, n), self.max_bytes)
                out = answer(self.pipe, self.task, items, kwargs)
                tensors = [pb_utils.Tensor(n, out[n]) for n in self.output_names if n in out]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as e:  # noqa: BLE001 — any failure answers this request only; the model lives on
                msg = str(e) if isinstance(e, self.explained) else f"{type(e).__name__}: {e}"
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(msg)))
        return responses

    def _stream(self, request) -> None:
        """A decoupled answer: one TEXT_PIECE response per piece of text as it is generated, then the JSON
        answer in the final response (or the error)."""
        from edgetool.check.golden import to_jsonable

        sender = request.get_response_sender()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            items, kwargs = request_items(self.kind, lambda n: _input(request, n), self.max_bytes)
            if len(items) != 1:
                raise RequestError(f"A streaming model takes one item per request, got {len(items)}.")
            pieces = self.pipe.stream(items[0], **kwargs[0])
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as done:
                    result = done.value
                    break
                sender.send(pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("TEXT_PIECE", np.asarray([piece.encode("utf-8")], object))]))
            answer_json = json.dumps(to_jsonable(result), ensure_ascii=False).encode("utf-8")
            sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("JSON", np.asarray([answer_json], object))]),
                        flags=final)
        except Exception as e:  # noqa: BLE001 — the error ends this request's stream; the model lives on
            msg = str(e) if isinstance(e, self.explained) else f"{type(e).__name__}: {e}"
            sender.send(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(msg)), flags=final)

    def finalize(self):
        self.pipe = None


class TritonGraphEngine:
    """An engine whose graph runs on another model of the same Triton server (a BLS call): the pipeline's
    feeds go out as that model's inputs, its outputs come back as the engine's."""

    name = "triton-bls"

    def __init__(self, model: str, graph, artifact=None):
        self.model, self.graph, self.artifact = model, graph, artifact  # the artifact that model serves, if known
        self.output_names = [t.name for t in graph.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = [pb_utils.Tensor(t.name, np.ascontiguousarray(feeds[t.name])) for t in self.graph.inputs]
        response = pb_utils.InferenceRequest(model_name=self.model, inputs=inputs,
                                             requested_output_names=self.output_names).exec()
        if response.has_error():
            raise RuntimeError(f"graph model '{self.model}' failed: {response.error().message()}")
        return {n: pb_utils.get_output_tensor_by_name(response, n).as_numpy() for n in self.output_names}


def _input(request, name):
    t = pb_utils.get_input_tensor_by_name(request, name)
    return None if t is None else t.as_numpy()
