"""Score filtering and class-aware NMS against the published greedy algorithm (golden files, no torch).

tests/golden_data/nms.json / nms.npz: boxes and per-class scores (random, clustered, ties / an IoU of
exactly the threshold / zero-area and identical boxes, empty) and, for five (threshold, iou_threshold,
max_detections) settings, what make_golden.py's plain-torch reference kept: `detect` (all classes, one
ranking) and ONNX NonMaxSuppression's selected_indices (per class), re-ranked as the runtime does.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import golden_arrays, golden_json

from edgetool.runtime.postprocess.nms import detect, gather_selected, nms

DOC = golden_json("nms")


def _inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    arrays, keys = golden_arrays("nms"), DOC["inputs"][name]
    return arrays[keys["boxes"]], arrays[keys["scores"]]


def _id(case: dict) -> str:
    return f"{case['input']}-thr{case['threshold']}-iou{case['iou_threshold']}-max{case['max_detections']}"


@pytest.mark.parametrize("case", DOC["detect"], ids=_id)
def test_detect_keeps_the_reference_boxes(case):
    boxes, scores = _inputs(case["input"])
    kept_boxes, kept_scores, labels = detect(boxes, scores, case["threshold"], case["iou_threshold"], case["max_detections"])
    anchors = case["anchors"]
    assert labels.tolist() == case["labels"]
    assert np.array_equal(kept_boxes, boxes[anchors].reshape(-1, 4))
    assert kept_scores.tolist() == np.float32(case["scores"]).tolist()


@pytest.mark.parametrize("case", [c for c in DOC["detect"] if c["max_detections"] >= 100], ids=_id)
def test_nms_indices_match_the_reference(case):
    boxes, scores = _inputs(case["input"])
    anchor, label = np.nonzero(scores > case["threshold"])
    keep = nms(boxes[anchor], scores[anchor, label], label, case["iou_threshold"])[:case["max_detections"]]
    assert anchor[keep].tolist() == case["anchors"] and label[keep].tolist() == case["labels"]


def _has_cross_class_ties(case) -> bool:
    """Two selected rows with the same box and the same score in different classes."""
    _, scores = _inputs(case["input"])
    sel = np.asarray(case["selected_indices"], np.int64).reshape(-1, 3)
    keys = [(int(a), float(scores[a, c])) for _, c, a in sel]
    return len(set(keys)) < len(keys)


def _check_gathered(case, selected: np.ndarray) -> None:
    boxes, scores = _inputs(case["input"])
    b, s, lab = gather_selected(boxes[None], scores[None], selected, 0, case["max_detections"])
    assert lab.tolist() == case["labels"]
    assert np.array_equal(b, boxes[case["anchors"]].reshape(-1, 4))
    assert np.array_equal(s, scores[case["anchors"], case["labels"]])


@pytest.mark.parametrize("case", DOC["selected"], ids=_id)
def test_in_graph_selected_indices_are_reranked_like_the_reference(case):
    """selected_indices in ONNX's order (class by class), padded with -1 rows as some engines do."""
    sel = np.asarray(case["selected_indices"], np.int64).reshape(-1, 3)
    _check_gathered(case, np.concatenate([sel, np.full((3, 3), -1, np.int64)]))


@pytest.mark.parametrize("case", [c for c in DOC["selected"] if not _has_cross_class_ties(c)], ids=_id)
def test_selected_indices_in_any_order_give_the_same_detections(case):
    sel = np.asarray(case["selected_indices"], np.int64).reshape(-1, 3)
    _check_gathered(case, sel[np.random.default_rng(0).permutation(len(sel))])


@pytest.mark.parametrize("case", [c for c in DOC["selected"] if _has_cross_class_ties(c)], ids=_id)
def test_selected_indices_in_any_order_with_cross_class_ties(case):
    sel = np.asarray(case["selected_indices"], np.int64).reshape(-1, 3)
    _check_gathered(case, sel[np.random.default_rng(0).permutation(len(sel))])
