"""`edgetool validate --against torch`: re-run samples through the live PyTorch model."""
from __future__ import annotations

from pathlib import Path

from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import UsageError
from edgetool.check.golden import Golden, load as load_golden

from .exporter import load_for, record_golden
from .options import ExportOptions


def source_options(bundle: Bundle, model_dir: str | None = None) -> ExportOptions:
    """The export options that reload the bundle's source model (recorded in its provenance)."""
    prov = bundle.manifest.provenance.to_json() if bundle.manifest.provenance else {}
    origin = prov.get("source", "")
    opts = ExportOptions(task=bundle.task, quiet=True, opset=int(prov.get("opset") or 17),
                         dynamo=prov.get("exporter") == "dynamo", extra=dict(prov.get("export_options") or {}))
    if model_dir:
        opts.model = Path(model_dir)
    elif origin.startswith("reference:"):
        opts.reference = origin.split(":", 1)[1]
    elif origin and Path(origin).is_dir():
        opts.model = Path(origin)
    else:
        raise UsageError(f"The bundle's source model '{origin}' is not available here; pass --model DIR "
                         "(the checkpoint directory it was exported from).")
    return opts


def torch_reference(bundle: Bundle, model_dir: str | None = None, samples=None) -> Golden:
    """The live PyTorch model's engine calls and pipeline results on `samples` (default: the golden ones)."""
    _, source, graphs = load_for(source_options(bundle, model_dir))
    return record_golden(bundle, graphs, load_golden(bundle).samples if samples is None else samples)
