"""Segmentation post-processing in NumPy, as transformers' image processors do it
(post_process_semantic_segmentation, post_process_panoptic_segmentation, post_process_instance_segmentation),
upsampled block by block so memory follows the output size."""
from __future__ import annotations

import numpy as np

from .activations import sigmoid, softmax
from .interpolate import Resizer
from .topk_order import topk_unsorted

ROW_BLOCK = 256  # output rows upsampled at once: a 10000x10000 image never holds C x H x W floats


def mask_image(mask: np.ndarray):
    from PIL import Image

    return Image.fromarray(mask.astype(np.uint8) * np.uint8(255), mode="L")


def argmax0(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x.argmax(0) for [C, ...] (the first maximum wins, as torch's), as C elementwise passes: NumPy's
    argmax along a leading axis is several times slower on [C, H, W]."""
    best = x[0].copy()
    idx = np.zeros(x.shape[1:], np.int32) if out is None else out
    idx[...] = 0
    for c in range(1, x.shape[0]):
        better = x[c] > best
        idx[better] = c
        np.maximum(best, x[c], out=best)
    return idx


def present_classes(seg: np.ndarray, n_classes: int) -> np.ndarray:
    """np.unique(seg) for a class-id map (sorted ids present), by counting."""
    return np.nonzero(np.bincount(seg.ravel(), minlength=n_classes))[0]


def semantic_map(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[C, h, w] logits -> [H, W] class ids, like interpolate(bilinear) + argmax, block by block."""
    resize = Resizer(logits.shape[-2:], size, "bilinear")
    dtype = np.uint8 if logits.shape[0] <= 256 else np.int32
    out = np.empty(size, dtype=dtype)
    for r in range(0, size[0], ROW_BLOCK):
        out[r:r + ROW_BLOCK] = argmax0(resize(logits, r, min(r + ROW_BLOCK, size[0])))
    return out


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def panoptic_segments(class_logits: np.ndarray, mask_logits: np.ndarray, size: tuple[int, int], threshold: float,
                      mask_threshold: float, overlap_mask_area_threshold: float) -> list[tuple[int, float, np.ndarray]]:
    """(label id, score, boolean mask) per segment, like post_process_panoptic_segmentation + compute_segments
    with no label fused (the pipeline passes none). Upsampled block by block: memory follows the output."""
    probs = softmax(_f32(class_logits))
    scores, labels = probs.max(-1).astype(np.float32), probs.argmax(-1)
    keep = (labels != probs.shape[-1] - 1) & (scores > threshold)
    if not keep.any():
        return []
    masks, scores, labels = sigmoid(_f32(mask_logits[keep])).astype(np.float32), scores[keep], labels[keep]
    resize = Resizer(masks.shape[-2:], size, "bilinear")
    owner = np.empty(size, dtype=np.int32)
    own_area = np.zeros(len(scores), dtype=np.int64)  # pixels where the query's weighted mask >= mask_threshold
    for r in range(0, size[0], ROW_BLOCK):
        block = resize(masks, r, min(r + ROW_BLOCK, size[0])) * scores[:, None, None]
        owner[r:r + ROW_BLOCK] = argmax0(block)
        own_area += (block >= np.float32(mask_threshold)).sum((1, 2))
    segments = []
    for k in range(len(scores)):
        mask = owner == k
        area = int(mask.sum())
        if area > 0 and own_area[k] > 0 and np.float32(area) / np.float32(own_area[k]) > overlap_mask_area_threshold:
            segments.append((int(labels[k]), round(float(scores[k]), 6), mask))
    return segments


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """torch's legacy "nearest": floor(dst * (in / out)) in float32, clamped."""
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    scale = np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64), n_in - 1)


def instance_segments(class_logits: np.ndarray, mask_logits: np.ndarray, size: tuple[int, int],
                      threshold: float) -> list[tuple[int, float, np.ndarray]]:
    """(label id, score, boolean mask) per instance, like post_process_instance_segmentation."""
    n_queries, n_classes = class_logits.shape[0], class_logits.shape[1] - 1
    flat = softmax(_f32(class_logits))[:, :-1].astype(np.float32).ravel()
    top = topk_unsorted(flat, n_queries)
    labels, queries = top % n_classes, top // n_classes
    logits = _f32(mask_logits)[queries]
    on = logits > 0
    area = on.reshape(len(top), -1).sum(1).astype(np.float32)
    mask_score = ((sigmoid(logits) * on).reshape(len(top), -1).sum(1, dtype=np.float64).astype(np.float32)
                  / (area + np.float32(1e-6)))
    scores = (flat[top] * mask_score.astype(np.float32)).astype(np.float32)
    rows, cols = _nearest_index(logits.shape[1], size[0]), _nearest_index(logits.shape[2], size[1])
    used_r, used_c = np.unique(rows), np.unique(cols)
    kept = [j for j in range(len(top)) if on[j][np.ix_(used_r, used_c)].any() and float(scores[j]) >= threshold]
    owner = np.full(size, -1, dtype=np.int32)
    for r in range(0, size[0], ROW_BLOCK):  # later instances overwrite earlier ones, as in transformers
        block = owner[r:r + ROW_BLOCK]
        for seg_id, j in enumerate(kept):
            block[on[j][np.ix_(rows[r:r + ROW_BLOCK], cols)]] = seg_id
    return [(int(labels[j]), round(float(scores[j]), 6), owner == seg_id) for seg_id, j in enumerate(kept)]
