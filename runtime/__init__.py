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
             options: BackendOptions | None = None, verify_key: str | Path | None = None, **option_fields):
    """Load a bundle (a path, or a task name whose default bundle is in ./bundles) as a pipeline.

    verify_key: a public key (PEM) or certificate chain; the bundle's signature (edgetool.sig) is verified
    over every file before anything of it is used (default: $EDGETOOL_VERIFY_KEY; needs edgetool[verify])."""
    from .pipelines import pipeline_class

    if option_fields:
        options = BackendOptions(**option_fields)
    if isinstance(bundle_or_task, Bundle):
        if verify_key is not None and bundle_or_task.verified_by != str(verify_key):
            bundle_or_task = Bundle.load(bundle_or_task.root, verify_key=verify_key)
        bundle = bundle_or_task
    else:
        bundle = _resolve(bundle_or_task, verify_key)
    return pipeline_class(get_task(bundle.task))(bundle, backend=backend, precision=precision, options=options)


def _resolve(ref: str | Path, verify_key: str | Path | None = None) -> Bundle:
    path = Path(ref)
    if path.exists():
        return Bundle.load(path, verify_key=verify_key)
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
    return Bundle.load(candidates[0], verify_key=verify_key)


__all__ = ["pipeline", "Bundle", "BackendOptions", "EdgetoolError"]
