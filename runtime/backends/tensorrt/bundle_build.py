"""`edgetool build BUNDLE`: build (and cache) a bundle's TensorRT engines on the device.

Which ONNX and which recipe per graph: the bundle's trt artifacts at the chosen precision (their manifest
options are the recipe written at export); a bundle exported for another target can still be built from
its fp32 ONNX, with profiles from the task's typical dims. --shapes / --workspace override the recipe.
Nothing here needs onnx or torch: graphs come from the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgetool.runtime.bundle import Artifact, Bundle
from edgetool.runtime.errors import EngineMissingError, UsageError
from edgetool.runtime.names import graph_backends
from edgetool.runtime.tasks import get_task

from . import build
from .profiles import check_shapes_cover, make_recipe, parse_shapes, recipe_from_options, typical_from_processing


@dataclass
class TrtBuildOptions:
    precision: str | None = None  # default: the precision of the bundle's trt artifacts, else fp32
    shapes: str | dict | None = None  # '--shapes' text or {input: (min, opt, max)}: replaces the profiles
    workspace_mb: int | None = None
    cache_dir: str | Path | None = None  # default ~/.cache/edgetool/trt
    force: bool = False  # rebuild even when the cache has the engine
    # build fp16 from the strongly typed fp16 ONNX even where TensorRT still has BuilderFlag.FP16 (TensorRT 11
    # builds strongly typed anyway)
    strongly_typed: bool = False


@dataclass
class PlannedBuild:
    graph: str
    artifact: Artifact
    recipe: dict


def plan_builds(bundle: Bundle, opts: TrtBuildOptions) -> list[PlannedBuild]:
    """One (artifact, recipe) per graph; GPU-free, so it is checked before TensorRT is even looked for."""
    trt_arts = [a for a in bundle.artifacts if a.target == "trt"]
    precision = opts.precision or (trt_arts[0].precision if trt_arts else "fp32")
    shapes = parse_shapes(opts.shapes) if isinstance(opts.shapes, str) else opts.shapes
    check_shapes_cover(shapes, bundle.graphs.values())
    typical = typical_from_processing(bundle.processing, get_task(bundle.task).typical_dims)
    plans = []
    for name, graph in bundle.graphs.items():
        if (only := graph_backends(name)) and "tensorrt" not in only:  # another engine's form (contrib ops)
            continue
        own = [a for a in trt_arts if a.graph == name and a.precision == precision]
        # TensorRT 10's fp16 is a builder flag over the fp32 ONNX (TensorRT 11 needs the trt/fp16 artifact's fp16
        # ONNX: build_engine says so); ORT's INT8 (uint8, int32 biases) is not what TensorRT parses
        plain = [a for a in bundle.artifacts if a.graph == name and a.target == "onnx" and a.format == "onnx"
                 and a.precision == "fp32"]
        if own:
            art, recipe = own[0], recipe_from_options(own[0].options, graph, precision)
        elif plain and precision in ("fp32", "fp16"):
            art, recipe = plain[0], recipe_from_options(None, graph, precision, typical)
            recipe["precision"] = precision
        else:
            have = sorted({f"{a.target}/{a.precision}" for a in bundle.artifacts})
            raise UsageError(
                f"Bundle {bundle.root} has no ONNX TensorRT can build '{name}' from at {precision} (it has: "
                f"{', '.join(have)}). Export it with: edgetool export --task {bundle.task} --target trt "
                f"--precision {precision}.")
        if shapes:
            recipe["profiles"] = make_recipe(graph, precision, typical, shapes)["profiles"]
        if opts.strongly_typed:
            recipe["typing"] = "strong"
        if opts.workspace_mb is not None:
            recipe["workspace_mb"] = make_recipe(graph, precision, typical,
                                                           workspace_mb=opts.workspace_mb)["workspace_mb"]
        plans.append(PlannedBuild(name, art, recipe))
    return plans


def build_bundle(bundle: Bundle, opts: TrtBuildOptions) -> list[dict]:
    """Build every graph's engine into the cache; returns {graph, precision, engine, cached} per graph."""
    plans = plan_builds(bundle, opts)
    build.check_engine_environment()  # one clear error naming everything missing, before any work
    out = []
    for p in plans:
        onnx = bundle.file(p.artifact.path)  # hash-checked: the cache key trusts the manifest's sha256
        sha = p.artifact.files[p.artifact.path]
        strong = build.strong_onnx_of(p.recipe, p.artifact.files, bundle.file)
        try:
            path = None if opts.force else build.cached_engine(onnx, p.recipe, opts.cache_dir, onnx_sha256=sha,
                                                               strong_onnx=strong)
        except EngineMissingError:
            path = None
        cached = path is not None
        if path is None:
            path = build.build_engine(onnx, p.recipe, opts.cache_dir, onnx_sha256=sha, force=opts.force,
                                      strong_onnx=strong)
        out.append({"graph": p.graph, "precision": p.recipe["precision"], "engine": str(path), "cached": cached})
    return out
