"""Versions and hashes recorded in every bundle."""
from __future__ import annotations

import datetime
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance(source, opts, exporter: str | None = None) -> dict:
    """`exporter`: the torch.onnx exporter the graphs were traced with (default: from opts.dynamo)."""
    from .onnx_export import DYNAMO_MIN_OPSET

    exporter = exporter or ("dynamo" if opts.dynamo else "torchscript")
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tool": {"edgetool": _version("edgetool")},
        "versions": {d: _version(d) for d in ("torch", "transformers", "onnx", "onnxruntime", "openvino")},
        "exporter": exporter,
        # dynamo emits at least opset 18 whatever is asked
        "opset": max(opts.opset, DYNAMO_MIN_OPSET) if exporter == "dynamo" else opts.opset,
        "source": source.origin,
        "source_sha256": source.sha256,
        "architecture": (getattr(source.config, "architectures", None) or [type(source.model).__name__])[0],
        "model_type": getattr(source.config, "model_type", None),
        "export_options": dict(opts.extra or {}),  # task switches (e.g. nms_in_graph): re-tracing needs them
    }
