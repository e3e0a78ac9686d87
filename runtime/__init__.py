"""edgetool.runtime — the device side: needs NumPy, tokenizers and one engine, never torch.

    from edgetool.runtime import pipeline
    clf = pipeline("bundles/text-classification-onnx-fp32")
    clf("I love this")  # [{'label': ..., 'score': ...}]
"""
from __future__ import annotations

from pathlib import Path

from .backends import BackendOptions
from .bundle import Bundle
from .errors import BundleError, EdgetoolError, UsageError
from .tasks import get_task


def pipeline(bundle_or_task: str | Path | Bundle, backend: str | None = None, precision: str | None = None,
             options: BackendOptions | None = None, **option_fields):
    """Load a bundle (a path, or a task name whose default bundle is in ./bundles) as a pipeline."""
    from .pipelines import pipeline_class

    if option_fields:
        options = BackendOptions(**option_fields)
    bundle = bundle_or_task if isinstance(bundle_or_task, Bundle) else _resolve(bundle_or_task)
    return pipeline_class(get_task(bundle.task))(bundle, backend=backend, precision=precision, options=options)


def _resolve(ref: str | Path) -> Bundle:
    path = Path(ref)
    if path.exists():
        return Bundle.load(path)
    try:
        spec = get_task(str(ref))
    except UsageError:
        raise BundleError(
            f"'{ref}' is neither a bundle directory nor a task name. "
            "Pass the folder `edgetool export` wrote, e.g. bundles/text-classification-onnx-fp32."
        ) from None
    candidates = sorted(Path("bundles").glob(f"{spec.name}-*"))
    if not candidates:
        raise BundleError(f"No bundle for task '{spec.name}' in ./bundles. Create one: edgetool export --task {spec.name}")
    return Bundle.load(candidates[0])


__all__ = ["pipeline", "Bundle", "BackendOptions", "EdgetoolError"]
