"""Decoding of set-prediction detectors (DETR and its descendants): per image, (scores, label ids, boxes)
in original-image pixels, in the order transformers' `post_process_object_detection` returns them.

- `softmax_sets`: DETR, Table Transformer, YOLOS — softmax over classes + no-object, the best real
  class per query, query order.
- `sigmoid_top_k`: Conditional / Deformable DETR (k = 100), RT-DETR v1/v2 and D-FINE (k = the number of
  queries: RTDetrImageProcessor's num_top_queries) — a sigmoid per class, the k best of queries x classes,
  highest first (torch.topk).
"""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS


def corner_boxes(pred_boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Relative (cx, cy, w, h) -> absolute (xmin, ymin, xmax, ymax), float32 like transformers."""
    cx, cy, w, h = np.moveaxis(np.asarray(pred_boxes, dtype=np.float32), -1, 0)
    boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)
    return boxes * np.asarray([width, height, width, height], dtype=np.float32)


def softmax_sets(logits: np.ndarray, pred_boxes: np.ndarray, height: int, width: int,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's [queries, classes + 1] logits and [queries, 4] boxes -> kept (scores, labels, boxes)."""
    prob = ACTIVATIONS["softmax"](np.asarray(logits, dtype=np.float32))[:, :-1]
    scores, labels = prob.max(-1), prob.argmax(-1)
    boxes = corner_boxes(pred_boxes, height, width)
    keep = scores > threshold
    return scores[keep], labels[keep], boxes[keep]


def sigmoid_top_k(logits: np.ndarray, pred_boxes: np.ndarray, height: int, width: int, threshold: float,
                  k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's [queries, classes] logits and [queries, 4] boxes -> the top k (None: as many as queries)
    of queries x classes above threshold, highest first."""
    logits = np.asarray(logits, dtype=np.float32)
    n_queries, n_classes = logits.shape
    prob = ACTIVATIONS["sigmoid"](logits).reshape(-1)
    top = min(n_queries if k is None else k, prob.size)
    order = np.argsort(-prob, kind="stable")[:top]
    scores, labels, query = prob[order], order % n_classes, order // n_classes
    boxes = corner_boxes(np.asarray(pred_boxes)[query], height, width)
    keep = scores > threshold
    return scores[keep], labels[keep], boxes[keep]
