"""The one way an artifact is produced, for export and quantize alike: every graph's fp32 ONNX of a
bundle being written -> the target's artifact at a precision, recorded in the writer's manifest."""
from __future__ import annotations

import dataclasses

from edgetool.runtime.manifest import Artifact
from edgetool.runtime.names import TARGET_BACKEND, graph_backends

from .base import BuildOptions


def source_onnx(graph: str) -> str:
    """The fp32 ONNX of a graph: the source of every other artifact (and of TensorRT builds on the device)."""
    return f"onnx/fp32/{graph}.onnx"


def _target_build(target, onnx_path, out_dir, graph, options, calibration):
    return target.build(onnx_path, out_dir, graph, options, calibration)


def build_artifacts(writer, target, options: BuildOptions, *, rel_dir: str | None = None,
                    calibration=None, build=_target_build) -> dict[str, dict]:
    """Build every graph for `target` at `options.precision` into `writer` (edgetool.bundle_writer.BundleWriter);
    returns graph -> the new artifact's options. `rel_dir` defaults to a fresh `writer.artifact_dir()`.
    `build(target, onnx, out_dir, graph, options, calibration)`: the target's own build, or the quantizer's
    (edgetool.quantize.builds.build) for precisions a target does not make itself."""
    rel_dir = rel_dir or writer.artifact_dir(target.name, options.precision)
    details = {}
    for graph in list(writer.manifest.graphs):
        only = graph_backends(graph)
        if only and TARGET_BACKEND.get(target.name) not in only:  # another engine's form of a graph (contrib ops)
            continue
        source = source_onnx(graph)
        built = build(target, writer.dir / source, writer.dir / rel_dir, graph,
                      dataclasses.replace(options, extra=dict(options.extra)), calibration)
        files, path = [f"{rel_dir}/{f}" for f in built.files], f"{rel_dir}/{built.path}"
        # a file that is the fp32 ONNX itself (TensorRT's fp32 artifact, and the TensorRT 10 half of its fp16
        # one, is the fp32 ONNX plus a recipe) is stored once
        source_sha = writer.hashes([source])[source]
        for rel, sha in writer.hashes(files).items():
            if sha == source_sha:
                (writer.dir / rel).unlink()
                files[files.index(rel)] = source
                path = source if path == rel else path
        hashes = writer.hashes(files)
        artifact_options = dict(built.options)
        if only:
            artifact_options["backends"] = list(only)
        if calibration is not None:
            artifact_options["calibration_sha256"] = calibration.info["sha256"]
            artifact_options["calibration_size"] = calibration.info["size"]
        writer.add_artifact(Artifact(graph, target.name, options.precision, built.format, path, hashes,
                                     artifact_options))
        details[graph] = artifact_options
    return details
