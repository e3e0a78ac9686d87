"""Every task's metric exists and can fail: a gate that cannot fail is no gate."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from edgetool.check import golden as golden_io
from edgetool.check.metrics import METRICS, compute
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import UsageError
from edgetool.runtime.tasks import all_tasks

TASKS = [t for t in all_tasks() if t.implemented]


def test_an_unknown_metric_is_an_error():
    with pytest.raises(UsageError, match="Unknown metric 'nope'"):
        compute("nope", [1], [1])


@pytest.mark.parametrize("spec", TASKS, ids=lambda t: t.name)
def test_every_task_names_a_known_metric(spec):
    assert spec.metric in METRICS


def _perturb(result):
    """The same answer with its content changed: labels/texts altered, numbers moved, arrays negated,
    pictures inverted — what a broken pre- or post-processing step would produce."""
    if isinstance(result, dict) and "png" in result:  # a picture as golden files store it: invert its pixels
        import base64
        import io

        from PIL import Image, ImageOps

        from edgetool.check.golden import _png_base64

        picture = Image.open(io.BytesIO(base64.b64decode(result["png"])))
        return {**result, "png": _png_base64(ImageOps.invert(picture.convert("L")).convert(picture.mode))}
    if isinstance(result, dict):
        return {k: (v if k in ("sequence", "prompt") else _perturb(v)) for k, v in result.items()}
    if isinstance(result, list):
        return [_perturb(r) for r in result]
    if isinstance(result, str):
        return "Z" + result[::-1] + "Z"
    if isinstance(result, bool) or result is None:
        return result
    if isinstance(result, (int, float)):
        return result + 37
    if isinstance(result, np.ndarray):
        return -result - 1
    if hasattr(result, "point"):  # PIL image (masks, depth pictures)
        return result.point(lambda v: 255 - v)
    return result


@pytest.mark.parametrize("spec", TASKS, ids=lambda t: t.name)
def test_every_task_metric_can_fail(spec, bundle_dir):
    golden = golden_io.load(Bundle.load(bundle_dir(spec.name)))
    ref = golden.results
    assert compute(spec.metric, ref, copy.deepcopy(ref)) == pytest.approx(1.0)
    floor = spec.metric_floor["fp32"]
    assert compute(spec.metric, ref, _perturb(copy.deepcopy(ref))) < floor, spec.name
