"""`edgetool validate --against torch`: re-run the bundle's samples through the live PyTorch model."""
from __future__ import annotations

from pathlib import Path

from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import UsageError
from edgetool.runtime.golden import Golden, load as load_golden

from .exporter import load_for, record_golden
from .options import ExportOptions


def torch_reference(bundle: Bundle, model_dir: str | None = None) -> Golden:
    prov = bundle.manifest.get("provenance", {})
    origin = prov.get("source", "")
    opts = ExportOptions(task=bundle.task, quiet=True)
    if model_dir:
        opts.model = Path(model_dir)
    elif origin.startswith("reference:"):
        opts.reference = origin.split(":", 1)[1]
    elif origin and Path(origin).is_dir():
        opts.model = Path(origin)
    else:
        raise UsageError(f"The bundle's source model '{origin}' is not available here; pass --model DIR "
                         "(the checkpoint directory it was exported from).")
    _, source, graphs = load_for(opts)
    return record_golden(bundle, graphs, load_golden(bundle).samples)
