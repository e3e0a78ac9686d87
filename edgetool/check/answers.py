"""End-to-end parity: the runtime pipeline's answers against the transformers pipeline's.

At export, `edgetool.export.e2e_reference` runs `transformers.pipeline` (same checkpoint, processor
files and call options) on the golden samples and stores its answers in the golden file ("e2e"). Here,
without torch, a candidate's answers on the same samples are compared with them:

- fp32: field by field. Strings, labels, token strings, generated text, entity groups, answers, integer
  ids and spans exactly; numbers (scores, boxes, embeddings, depth) within the fp32 tolerance scaled to
  the reference's magnitude (|got - ref| <= atol * S + rtol * |ref|, S = max(1, max |ref| of the field));
  pictures (masks, depth maps) pixel by pixel: at most 0.1% of the pixels may differ by more than 1.
- fp16 / int8: by the task metric (the registry's floor for that precision) against the same answers;
  the field differences are reported for information.

Fields the transformers pipeline does not return are not compared; a field it returns that the runtime
does not is a mismatch.
"""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from edgetool.check import metrics
from edgetool.runtime.tasks import get_task

ANSWER_ATOL, ANSWER_RTOL = 1e-4, 1e-3
PIXEL_FRACTION = 1e-3  # pictures: share of pixels allowed to differ by more than 1 (rounding at a border)
MAX_LISTED = 10
SKIPPED = "__not_compared__"  # a sample the transformers pipeline cannot answer (an edgetool-only option)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _numeric_array(x) -> np.ndarray | None:
    """A (nested) list of numbers as a float array; None for anything else."""
    if not isinstance(x, list) or not x:
        return None
    try:
        a = np.asarray(x, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return a if a.dtype == np.float64 and a.ndim >= 1 else None


def _picture(x) -> np.ndarray | None:
    if isinstance(x, dict) and {"image", "mode", "png"} <= set(x):
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(base64.b64decode(x["png"]))), dtype=np.int64)
    return None


def _short(v: Any, n: int = 80) -> str:
    if isinstance(v, dict) and "png" in v:
        return f"<{v.get('mode')} picture {v.get('image')}>"
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def _diff(ref, got, path: str, out: list[dict], atol: float, rtol: float) -> None:
    """Append {field, expected, got, why} for every difference under `path`."""
    pic = _picture(ref)
    if pic is not None:
        mine = _picture(got)
        if mine is None or mine.shape != pic.shape:
            out.append({"field": path, "expected": _short(ref), "got": _short(got), "why": "picture size differs"})
            return
        bad = float(np.mean(np.abs(mine - pic) > 1))
        if bad > PIXEL_FRACTION:
            out.append({"field": path, "expected": _short(ref), "got": _short(got),
                        "why": f"{100 * bad:.2f}% of the pixels differ"})
        return
    arr = _numeric_array(ref)
    if arr is not None and arr.size > 1:
        mine_arr = _numeric_array(got)
        if mine_arr is None or mine_arr.shape != arr.shape:
            out.append({"field": path, "expected": f"numbers of shape {list(arr.shape)}",
                        "got": _short(got) if mine_arr is None else f"shape {list(mine_arr.shape)}", "why": "shape"})
            return
        scale = max(1.0, float(np.abs(arr).max()))
        err = np.abs(mine_arr - arr)
        over = err > atol * scale + rtol * np.abs(arr)
        if over.any():
            i = int(np.argmax(np.where(over, err, -1)))
            idx = np.unravel_index(i, arr.shape)
            out.append({"field": f"{path}[{']['.join(str(int(k)) for k in idx)}]", "expected": float(arr[idx]),
                        "got": float(mine_arr[idx]), "why": f"max abs {float(err.max()):.3g} (scale {scale:.3g})"})
        return
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            out.append({"field": path or "result", "expected": _short(ref), "got": _short(got), "why": "not a dict"})
            return
        for k, v in ref.items():
            if k not in got:
                out.append({"field": f"{path}.{k}".lstrip("."), "expected": _short(v), "got": "(missing)",
                            "why": "missing"})
            else:
                _diff(v, got[k], f"{path}.{k}".lstrip("."), out, atol, rtol)
        return
    if isinstance(ref, list):
        if not isinstance(got, list) or len(got) != len(ref):
            out.append({"field": path or "result", "expected": _short(ref), "got": _short(got),
                        "why": f"{len(ref)} items expected, got {len(got) if isinstance(got, list) else 'no list'}"})
            return
        for i, (a, b) in enumerate(zip(ref, got)):
            _diff(a, b, f"{path}[{i}]", out, atol, rtol)
        return
    if _is_number(ref) and _is_number(got) and (isinstance(ref, float) or isinstance(got, float)):
        if not abs(got - ref) <= atol * max(1.0, abs(ref)) + rtol * abs(ref):
            out.append({"field": path, "expected": ref, "got": got, "why": f"abs error {abs(got - ref):.3g}"})
        return
    if ref != got:
        out.append({"field": path or "result", "expected": _short(ref), "got": _short(got), "why": "differs"})


def compare_answers(e2e: dict | None, candidate_results: list, task: str, precision: str,
                    judged_by_steps: bool = False) -> dict | None:
    """The "answers" section of a parity report, or None when the golden file holds no e2e reference.
    judged_by_steps: a quantized decoder, judged by its per-step top-1 (the answers are information)."""
    if not e2e:
        return None
    status = e2e.get("status")
    head = {"reference": e2e.get("source", "transformers pipeline"), "status": status}
    if status != "ok":
        return {**head, "passed": None, "note": e2e.get("reason", "")}
    ref = e2e.get("results") or []
    mismatches: list[dict] = []
    compared = [i for i, a in enumerate(ref) if not (isinstance(a, dict) and SKIPPED in a)]
    for i, (a, b) in enumerate(zip(ref, candidate_results)):
        if i not in compared:
            continue
        found: list[dict] = []
        _diff(a, b, "", found, ANSWER_ATOL, ANSWER_RTOL)
        mismatches.extend({"sample": i, **m} for m in found)
    if len(ref) != len(candidate_results):
        mismatches.append({"sample": None, "field": "samples", "expected": len(ref), "got": len(candidate_results),
                           "why": "number of answers"})
    out = {**head, "samples": len(compared), "mismatches": mismatches[:MAX_LISTED], "mismatch_count": len(mismatches)}
    if len(compared) < len(ref):
        out["not_compared"] = {str(i): ref[i][SKIPPED] for i in range(len(ref)) if i not in compared}
    if precision == "fp32":
        out.update(judged_by="fields", passed=not mismatches)
        return out
    if judged_by_steps:
        out.update(judged_by="teacher-forced top-1 of each step (see the metric)", passed=None)
        return out
    spec = get_task(task)
    floor = spec.metric_floor.get(precision, spec.metric_floor.get("fp32", 1.0))
    got = [candidate_results[i] for i in compared if i < len(candidate_results)]
    value = metrics.compute(spec.metric, [ref[i] for i in compared], got) if spec.metric and compared else 0.0
    out.update(judged_by=f"metric {spec.metric}", metric=value, floor=floor, passed=bool(value >= floor))
    return out


def format_answers(a: dict) -> list[str]:
    """Terminal lines for a report's "answers" section."""
    if a.get("status") != "ok":
        kind = {"no-pipeline": "not compared", "bad-reference": "BAD REFERENCE (not a parity failure)"}.get(
            a.get("status"), a.get("status"))
        return [f"  end-to-end vs {a.get('reference')}: {kind}: {a.get('note', '')}"]
    verdict = {True: "ok", False: "FAIL", None: "information"}[a["passed"]]
    how = f"{a['judged_by']}" + (f" = {a['metric']:.4f} (floor {a['floor']:g})" if "metric" in a else "")
    lines = [f"  end-to-end vs {a['reference']} on {a['samples']} samples ({how}): "
             f"{a['mismatch_count']} field(s) differ  {verdict}"]
    for m in a.get("mismatches", []):
        lines.append(f"    sample {m['sample']} {m['field']}: expected {_short(m['expected'])}, got {_short(m['got'])}"
                     f" ({m['why']})")
    if a["mismatch_count"] > len(a.get("mismatches", [])):
        lines.append(f"    ... and {a['mismatch_count'] - len(a['mismatches'])} more")
    return lines
