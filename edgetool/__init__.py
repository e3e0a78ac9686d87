"""edgetool — offline export to ONNX / OpenVINO / TensorRT bundles, and a torch-free runtime.

The facade is lazy: `import edgetool` loads nothing heavy.

    import edgetool
    path = edgetool.export("classify", target="openvino")     # needs the export extra
    clf = edgetool.pipeline(path)                             # runtime only
    clf("I love this")
"""
from __future__ import annotations

__version__ = "0.1.0"


def export(task: str, **options):
    """Export a task's model to a bundle; options are the fields of edgetool.export.options.ExportOptions."""
    from edgetool.export.exporter import export as _export
    from edgetool.export.options import ExportOptions

    return _export(ExportOptions(task=task, **options))


def pipeline(bundle_or_task, backend=None, precision=None, **options):
    """Load a bundle as a pipeline that answers like `transformers.pipeline`."""
    from edgetool.runtime import pipeline as _pipeline

    return _pipeline(bundle_or_task, backend=backend, precision=precision, **options)


__all__ = ["export", "pipeline", "__version__"]
