"""Calling the pipeline model over HTTP or gRPC with `tritonclient` (the `serve` extra).

One sample (the same values a local `pipeline(...)` call takes) becomes the model's natural input
tensors; the answer is the pipeline's JSON result plus the typed outputs.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from edgetool.runtime.errors import EdgetoolError, UsageError

PROTOCOLS = ("http", "grpc")


def _module(protocol: str):
    try:
        if protocol == "http":
            import tritonclient.http as m
        elif protocol == "grpc":
            import tritonclient.grpc as m
        else:
            raise UsageError(f"Unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}.")
    except ImportError as e:
        raise EdgetoolError(f"Talking to a Triton server needs tritonclient ({e}): pip install 'edgetool[serve]'.") \
            from None
    return m


def parse_url(url: str) -> tuple[str, str]:
    """(protocol, host:port) from http://h:p, grpc://h:p or h:p (HTTP)."""
    for proto in PROTOCOLS:
        if url.startswith(proto + "://"):
            return proto, url[len(proto) + 3:].rstrip("/")
    if "://" in url:
        raise UsageError(f"Server URL '{url}': use http://HOST:PORT or grpc://HOST:PORT.")
    return "http", url.rstrip("/")


def sample_tensors(kind: str, item, kwargs: dict | None = None, encode_images: bool = False) -> dict[str, np.ndarray]:
    """The natural input tensors (batch of 1) for one pipeline call `pipe(item, **kwargs)`."""
    kwargs = dict(kwargs or {})
    out: dict[str, np.ndarray] = {}
    if kind == "text":
        if isinstance(item, dict) and "text" in item:
            if item.get("text_pair") is not None:
                out["TEXT_PAIR"] = np.asarray([[str(item["text_pair"]).encode("utf-8")]], object)
            item = item["text"]
        if not isinstance(item, str):
            raise UsageError(f"A text model takes a str or a {{'text', 'text_pair'}} dict, got {type(item).__name__}.")
        out["TEXT"] = np.asarray([[item.encode("utf-8")]], object)
    elif kind == "image":
        if isinstance(item, (bytes, bytearray)):
            out["IMAGE"] = np.asarray([[bytes(item)]], object)
        else:
            from edgetool.runtime.preprocess.image import load_image

            arr = load_image(item)
            if encode_images:
                from PIL import Image

                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format="PNG")
                out["IMAGE"] = np.asarray([[buf.getvalue()]], object)
            else:
                out["IMAGE_HWC"] = arr[None]
    elif kind == "audio":
        if isinstance(item, dict):
            kwargs.setdefault("sampling_rate", item.get("sampling_rate"))
            item = item.get("raw", item.get("array"))
        out["AUDIO"] = np.asarray(item, np.float32).reshape(1, -1)
        rate = kwargs.pop("sampling_rate", None)
        if rate is not None:
            out["SAMPLING_RATE"] = np.asarray([[int(rate)]], np.int32)
    else:
        raise UsageError(f"Inputs of kind '{kind}' are not served.")
    if kwargs:
        out["OPTIONS"] = np.asarray([[json.dumps(kwargs).encode("utf-8")]], object)
    return out


_NP_TO_TRITON = {"float32": "FP32", "float16": "FP16", "float64": "FP64", "int64": "INT64", "int32": "INT32",
                 "int8": "INT8", "uint8": "UINT8", "bool": "BOOL", "object": "BYTES"}


@dataclass
class Client:
    """A connection to one model on one server (thread-safe for HTTP with concurrency; one per thread for gRPC)."""

    url: str
    model: str
    protocol: str = "http"
    timeout_s: float = 60.0

    def __post_init__(self):
        self.protocol, self.address = (self.protocol, self.url) if "://" not in self.url else parse_url(self.url)
        self.mod = _module(self.protocol)
        if self.protocol == "http":
            self.conn = self.mod.InferenceServerClient(self.address, connection_timeout=self.timeout_s,
                                                       network_timeout=self.timeout_s)
        else:
            self.conn = self.mod.InferenceServerClient(self.address)

    def infer_tensors(self, tensors: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        inputs = []
        for name, arr in tensors.items():
            t = self.mod.InferInput(name, list(arr.shape), _NP_TO_TRITON[str(arr.dtype)])
            if self.protocol == "http":
                t.set_data_from_numpy(arr, binary_data=True)
            else:
                t.set_data_from_numpy(arr)
            inputs.append(t)
        outs = [self.mod.InferRequestedOutput(n) for n in outputs] if outputs else None
        kw = {} if self.protocol == "http" else {"client_timeout": self.timeout_s}  # HTTP: set on the connection
        result = self.conn.infer(self.model, inputs, outputs=outs, **kw)
        names = outputs or [o["name"] for o in (result.get_response()["outputs"] if self.protocol == "http"
                                                  else _grpc_outputs(result))]
        return {n: result.as_numpy(n) for n in names}

    def __call__(self, kind: str, item, kwargs: dict | None = None, encode_images: bool = False):
        """The pipeline's answer (decoded JSON) for one item."""
        out = self.infer_tensors(sample_tensors(kind, item, kwargs, encode_images))
        return json.loads(bytes(out["JSON"].reshape(-1)[0]).decode("utf-8")), out

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


def _grpc_outputs(result):
    return [{"name": o.name} for o in result.get_response().outputs]


def stream(url: str, model: str, kind: str, item, kwargs: dict | None = None, timeout_s: float = 120.0):
    """A streaming (decoupled) pipeline model over gRPC: yields the text pieces as the server sends them and
    returns the final answer (decoded JSON). `url` is HOST:PORT or grpc://HOST:PORT."""
    import queue

    protocol, address = parse_url(url if "://" in url else "grpc://" + url)
    if protocol != "grpc":
        raise UsageError(f"Streaming answers come over gRPC (grpc://HOST:PORT); got {url}.")
    mod = _module("grpc")
    conn = mod.InferenceServerClient(address)
    responses: queue.Queue = queue.Queue()
    conn.start_stream(callback=lambda result, error: responses.put((result, error)))
    try:
        inputs = []
        for name, arr in sample_tensors(kind, item, kwargs).items():
            arr = arr[0]  # a decoupled model takes no batch dim
            t = mod.InferInput(name, list(arr.shape), _NP_TO_TRITON[str(arr.dtype)])
            t.set_data_from_numpy(arr)
            inputs.append(t)
        conn.async_stream_infer(model, inputs)
        while True:
            try:
                result, error = responses.get(timeout=timeout_s)
            except queue.Empty:
                raise EdgetoolError(f"No streamed response from {url} for {timeout_s:g} s.") from None
            if error is not None:
                raise EdgetoolError(f"The server answered with an error: {error}")
            names = {o["name"] for o in _grpc_outputs(result)}
            if "TEXT_PIECE" in names:
                yield bytes(result.as_numpy("TEXT_PIECE").reshape(-1)[0]).decode("utf-8")
            if "JSON" in names:
                return json.loads(bytes(result.as_numpy("JSON").reshape(-1)[0]).decode("utf-8"))
    finally:
        conn.stop_stream()
        conn.close()
