"""The Target contract (build side): ONNX in, one artifact for an engine out.

A target declares the precisions it can build, checks its own environment (installing nothing),
and writes standard-format files: ONNX, OpenVINO IR (.xml/.bin), TensorRT plans with no custom header.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetool.runtime.errors import UnsupportedError


@dataclass
class BuildOptions:
    precision: str = "fp32"
    static_shapes: dict[str, int] | None = None  # e.g. {"batch": 1, "sequence": 128}
    shapes: dict[str, tuple] | None = None  # TensorRT profiles: input -> (min, opt, max) shapes
    workspace_mb: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuiltArtifact:
    """Files written under out_dir; `path` is the one an engine opens. Paths are relative to out_dir."""

    format: str
    path: str
    files: list[str]
    options: dict[str, Any] = field(default_factory=dict)


class Target:
    name = "?"
    format = "?"
    precisions: tuple[str, ...] = ("fp32",)
    backend = "?"  # the runtime backend that runs this target's artifacts
    # Precisions build() makes from the fp32 ONNX by itself; the others go through edgetool.quantize first.
    own_precisions: tuple[str, ...] = ("fp32",)
    takes_profiles = False  # whether --shapes / --workspace (engine build profiles) mean anything to it

    def check_precision(self, precision: str) -> None:
        if precision not in self.precisions:
            raise UnsupportedError(
                f"Target '{self.name}' cannot build {precision} (it supports {', '.join(self.precisions)}). "
                f"Choose --precision {self.precisions[0]}, or another --target."
            )

    def build_options(self, manifest, opts) -> BuildOptions:
        """This target's BuildOptions for an export (opts: ExportOptions; manifest: the bundle's typed Manifest so far)."""
        return BuildOptions(precision=opts.precision)

    def check_environment(self) -> None:
        """Raise EngineMissingError naming the extra to install when the SDK is absent."""

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions,
              calibration=None) -> BuiltArtifact:
        raise NotImplementedError
