"""docs/serve.md: the KServe InferenceService manifest is valid YAML of the right shape."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "serve.md"


def test_kserve_manifest_parses():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    doc = yaml.safe_load(blocks[0])
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1" and doc["kind"] == "InferenceService"
    triton = doc["spec"]["predictor"]["triton"]
    assert triton["storageUri"].startswith(("gs://", "s3://", "pvc://", "https://"))
    assert doc["spec"]["predictor"]["maxReplicas"] >= doc["spec"]["predictor"]["minReplicas"] >= 1
