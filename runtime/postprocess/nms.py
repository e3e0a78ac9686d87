"""Score filtering and class-aware non-maximum suppression (NumPy), with ONNX NonMaxSuppression's
semantics: every (box, class) pair scoring above the threshold is a candidate, boxes of different
classes never suppress each other, a box is dropped when its IoU with a kept one is > iou_threshold."""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes [N, 4] x [M, 4] -> [N, M] (corners may come in any order)."""
    a = np.concatenate([np.minimum(a[:, :2], a[:, 2:]), np.maximum(a[:, :2], a[:, 2:])], 1).astype(np.float64)
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], 1).astype(np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy class-aware NMS, highest score first."""
    order = np.argsort(-scores, kind="stable")
    boxes, labels = boxes[order], labels[order]
    overlap = (box_iou(boxes, boxes) > iou_threshold) & (labels[:, None] == labels[None, :])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):  # sequential by nature; each step is one vectorised row
        if not suppressed[i]:
            keep.append(i)
            suppressed |= overlap[i]
    return order[np.asarray(keep, dtype=np.int64)]


def detect(boxes: np.ndarray, scores: np.ndarray, threshold: float, iou_threshold: float,
           max_detections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: boxes [N, 4], per-class scores [N, C] -> (boxes [K, 4], scores [K], labels [K])."""
    anchor, label = np.nonzero(scores > threshold)
    cand_scores = scores[anchor, label]
    keep = nms(boxes[anchor], cand_scores, label, iou_threshold)[:max_detections]
    return boxes[anchor[keep]], cand_scores[keep], label[keep]


def gather_selected(boxes: np.ndarray, scores: np.ndarray, selected: np.ndarray, batch: int,
                    max_detections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same result from an in-graph NonMaxSuppression's selected_indices [K, 3] (batch, class, box)
    for one batch item; engines may pad with -1 rows or order classes differently, so re-rank."""
    sel = selected[(selected[:, 0] == batch) & (selected >= 0).all(1)]
    anchor, label = sel[:, 2], sel[:, 1]
    s = scores[batch, anchor, label]
    order = np.lexsort((label, anchor, -s))[:max_detections]  # score, then box, then class: row order never matters
    return boxes[batch, anchor[order]], s[order], label[order]
