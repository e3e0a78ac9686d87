"""The dynamo exporter on every family's reference models: each exports with dynamo (the families' default)
and passes parity against PyTorch on ONNX Runtime and OpenVINO (the export's own gate: target openvino checks
both and fails on a mismatch); graphs pinned to TorchScript (docs/decisions.md) must say so in provenance.
One text, one vision and one audio family run in `make test`; the rest are marked slow and run by
`make test-slow`. The family default and the --no-dynamo override are checked on text-classification."""
from __future__ import annotations

import json

import pytest

from edgetool.export.families import FAMILIES, family_keys

FAST = {("text-classification", "encoder"), ("image-classification", "vit"), ("audio-classification", "wav2vec2")}


def _cases():
    for task, family in family_keys():
        for ref in FAMILIES.get((task, family)).references:
            marks = () if (task, family) in FAST else (pytest.mark.slow,)
            yield pytest.param(task, family, ref.name, id=f"{task}-{ref.name}", marks=marks)


def manifest(bundle) -> dict:
    return json.loads((bundle / "edgetool.json").read_text())


def traced_with_dynamo(task: str, reference: str) -> bool:
    """False for models whose every graph insists on TorchScript (GraphExport.dynamo False)."""
    from edgetool.export.exporter import load_for
    from edgetool.export.options import ExportOptions

    return any(g.dynamo is not False for g in load_for(ExportOptions(task=task, reference=reference, quiet=True))[2])


@pytest.mark.parametrize("task, family, reference", list(_cases()))
def test_reference_exports_with_dynamo_and_passes_parity_on_both_backends(bundle_dir, task, family, reference):
    from edgetool.export.families import default_reference, get_adapter

    # Where dynamo is the family's default, the bundle the end-to-end tests use (same arguments) is this one.
    args = {} if reference == default_reference(task) else {"reference": reference}
    if not get_adapter(task, family).dynamo:
        args["dynamo"] = True
    m = manifest(bundle_dir(task, target="openvino", **args))
    assert m["family"] == family
    assert {"onnxruntime/fp32", "openvino/fp32"} <= set(m["parity"])
    assert all(r["passed"] for r in m["parity"].values()), m["parity"]
    # graphs pinned to TorchScript (YOLO-style, MaskFormer: docs/decisions.md) say so in provenance
    assert m["provenance"]["exporter"] == ("dynamo" if traced_with_dynamo(task, reference) else "torchscript")


def test_family_default_and_override_are_recorded(bundle_dir):
    """The default is the family's choice (Adapter.dynamo); dynamo=False (--no-dynamo) overrides it."""
    from edgetool.export.families import get_adapter

    default = manifest(bundle_dir("text-classification"))  # the bundle other text-classification tests use
    assert default["provenance"]["exporter"] == ("dynamo" if get_adapter("text-classification", "encoder").dynamo
                                                 else "torchscript")
    legacy = manifest(bundle_dir("text-classification", dynamo=False))
    assert legacy["provenance"]["exporter"] == "torchscript"
    assert legacy["parity"]["onnxruntime/fp32"]["passed"]
