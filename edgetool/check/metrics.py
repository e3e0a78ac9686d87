"""Task metrics: compare a candidate's pipeline results with the reference's (1.0 = identical).

Each metric takes (reference_results, candidate_results) — lists with one pipeline result per sample
— and returns a float in [0, 1]. The registry names one per task (TaskSpec.metric).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgetool.runtime.registry import Registry

# An unknown name is an error, never a default: a metric that cannot fail would make the gate useless.
METRICS: Registry[Callable[[list, list], float]] = Registry("metric")
metric = METRICS.register


def _top_labels(result) -> list:
    """The top label of each item in a (possibly nested) classification result."""
    if isinstance(result, dict):
        return [result.get("label")]
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return [max(result, key=lambda r: r.get("score", 0.0)).get("label")]
    if isinstance(result, list):
        return [lab for r in result for lab in _top_labels(r)]
    return [result]


@metric("label_agreement")
def label_agreement(ref: list, got: list) -> float:
    a = [lab for r in ref for lab in _top_labels(r)]
    b = [lab for r in got for lab in _top_labels(r)]
    if len(a) != len(b) or not a:
        return 0.0
    return float(np.mean([x == y for x, y in zip(a, b)]))


def compute(name: str, ref: list, got: list) -> float:
    return METRICS.get(name)(ref, got)


@metric("token_equality")
def result_equality(ref: list, got: list) -> float:
    """Fraction of samples whose whole result (generated text, transcript) is identical."""
    if len(ref) != len(got) or not ref:
        return 0.0
    return float(np.mean([a == b for a, b in zip(ref, got)]))


def _sentence_rows(x: np.ndarray) -> np.ndarray:
    """Embeddings as one row per sentence: token embeddings [..., tokens, dim] (3+ dims, one text's result)
    are mean-pooled over their tokens; a 2-D result is a batch of sentence vectors; a 1-D one is one vector."""
    if x.ndim >= 3:
        return x.mean(axis=-2).reshape(-1, x.shape[-1])
    return x.reshape(1, -1) if x.ndim == 1 else x


@metric("cosine")
def min_cosine(ref: list, got: list) -> float:
    """Worst sentence cosine similarity of the numeric results (embeddings): per sentence vector, token
    embeddings mean-pooled first. A flattened cosine over all tokens hides a short sentence's error."""
    if len(ref) != len(got) or not ref:
        return 0.0
    worst = 1.0
    for a, b in zip(ref, got):
        try:
            x = np.asarray(a, dtype=np.float64)
            y = np.asarray(b, dtype=np.float64)
        except ValueError:  # ragged (several texts of different lengths): compare item by item
            if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
                return 0.0
            worst = min([worst] + [min_cosine([p], [q]) for p, q in zip(a, b)])
            continue
        if x.shape != y.shape:
            return 0.0
        for p, q in zip(_sentence_rows(x), _sentence_rows(y)):
            denom = np.linalg.norm(p) * np.linalg.norm(q)
            worst = min(worst, float(p @ q / denom) if denom > 0 else float(np.array_equal(p, q)))
    return worst


def _tokens(result) -> list:
    """Predicted token ids of a fill-mask result, in rank order, flattened over masks and texts."""
    if isinstance(result, dict):
        return [result.get("token")]
    if isinstance(result, list):
        return [t for r in result for t in _tokens(r)]
    return []


@metric("topk_agreement")
def topk_agreement(ref: list, got: list) -> float:
    """Fraction of ranked predictions (token at each rank) that agree."""
    a = [t for r in ref for t in _tokens(r)]
    b = [t for r in got for t in _tokens(r)]
    if len(a) != len(b) or not a:
        return 0.0
    return float(np.mean([x == y for x, y in zip(a, b)]))


def _top(result):
    """Top label of a zero-shot ({'labels': [...]}) or multiple-choice ({'answer': ...}) result."""
    if isinstance(result, list):
        return [t for r in result for t in _top(r)]
    if isinstance(result, dict) and "labels" in result:
        return [result["labels"][0]]
    if isinstance(result, dict) and "answer" in result:
        return [result["answer"]]
    return _top_labels(result)


@metric("ranked_label_agreement")
def ranked_label_agreement(ref: list, got: list) -> float:
    a, b = _top(ref), _top(got)
    return float(np.mean([x == y for x, y in zip(a, b)])) if a and len(a) == len(b) else 0.0


def _entities(result) -> list:
    if isinstance(result, dict) and "start" in result:
        return [(result.get("entity_group", result.get("entity")), result["start"], result["end"])]
    if isinstance(result, list):
        return [e for r in result for e in _entities(r)]
    return []


@metric("entity_agreement")
def entity_agreement(ref: list, got: list) -> float:
    """F1 of (label, start, end) entities between the two result sets (1.0 when both find none)."""
    a, b = set(_entities(ref)), set(_entities(got))
    if not a and not b:
        return 1.0
    tp = len(a & b)
    return 2 * tp / (len(a) + len(b))


def _answers(result) -> list:
    if isinstance(result, dict) and "answer" in result and "start" in result:
        return [(result["answer"], result["start"], result["end"])]
    if isinstance(result, list):
        return [a for r in result for a in _answers(r)]
    return []


@metric("answer_exact_match")
def answer_exact_match(ref: list, got: list) -> float:
    """Fraction of answers (text and character span, in rank order) that are identical."""
    a, b = _answers(ref), _answers(got)
    if len(a) != len(b) or not a:
        return 0.0
    return float(np.mean([x == y for x, y in zip(a, b)]))


def _entity_keys(result, path: tuple = ()):
    """(text path, label, start, end) per entity; the path tells apart the texts of a batch."""
    if isinstance(result, dict) and "start" in result:
        yield path[:-1], result.get("entity_group", result.get("entity")), result["start"], result["end"]
    elif isinstance(result, list):
        for j, r in enumerate(result):
            yield from _entity_keys(r, path + (j,))


@metric("entity_f1")
def entity_f1(ref: list, got: list) -> float:
    """F1 of (label, start, end) entities, each matched only within its own sample and text (1.0 when
    neither side finds any)."""
    if len(ref) != len(got):
        return 0.0
    a, b = set(_entity_keys(ref)), set(_entity_keys(got))
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


# -- object detection: the reference model's detections are the ground truth -------------------------
def _detections(result) -> list[list[dict]]:
    """Per image, its detections, from one sample's result (one image: a list of dicts; a batch: a list of lists)."""
    if isinstance(result, list) and result and isinstance(result[0], list):
        return [list(r) for r in result]
    return [list(result or [])]


def _xyxy(dets: list[dict]) -> np.ndarray:
    return np.asarray([[d["box"][k] for k in ("xmin", "ymin", "xmax", "ymax")] for d in dets],
                      dtype=np.float64).reshape(-1, 4)


def _images(ref: list, got: list):
    a = [img for r in ref for img in _detections(r)]
    b = [img for r in got for img in _detections(r)]
    return (a, b) if len(a) == len(b) else (None, None)


def _match(ref_dets: list[dict], got_dets: list[dict], iou_min: float) -> list[tuple[int, int, float]]:
    """Greedy COCO-style matching, highest-scored candidate first, same label only: (ref i, got j, IoU)."""
    from edgetool.runtime.postprocess.nms import box_iou

    if not ref_dets or not got_dets:
        return []
    iou = box_iou(_xyxy(got_dets), _xyxy(ref_dets))
    same = np.asarray([[g["label"] == r["label"] for r in ref_dets] for g in got_dets])
    iou = np.where(same, iou, -1.0)
    taken, pairs = set(), []
    for j in sorted(range(len(got_dets)), key=lambda j: -got_dets[j]["score"]):
        free = [i for i in range(len(ref_dets)) if i not in taken and iou[j, i] >= iou_min]
        if free:  # best IoU; among equal boxes (DETR queries often coincide) the closest score
            i = max(free, key=lambda i: (round(float(iou[j, i]), 9), -abs(ref_dets[i]["score"] - got_dets[j]["score"])))
            taken.add(i)
            pairs.append((i, j, float(iou[j, i])))
    return pairs


def detection_stats(ref: list, got: list) -> dict:
    """mAP@[.5:.95] against the reference's detections, mean IoU of matched boxes (IoU >= 0.5),
    the largest score difference of a matched pair, and the share of reference boxes matched."""
    a, b = _images(ref, got)
    if a is None:
        return {"map": 0.0, "mean_iou": 0.0, "max_score_delta": 1.0, "recall": 0.0}
    ious, deltas, n_ref, n_matched = [], [], 0, 0
    for r, g in zip(a, b):
        pairs = _match(r, g, 0.5)
        n_ref, n_matched = n_ref + len(r), n_matched + len(pairs)
        ious += [p[2] for p in pairs]
        deltas += [abs(r[i]["score"] - g[j]["score"]) for i, j, _ in pairs]
    aps = [_average_precision(a, b, label, t) for t in np.arange(0.5, 0.96, 0.05)
           for label in sorted({d["label"] for img in a + b for d in img}, key=str)]
    return {"map": float(np.mean(aps)) if aps else 1.0,
            "mean_iou": float(np.mean(ious)) if ious else float(n_ref == 0 and not any(b)),
            "max_score_delta": float(max(deltas)) if deltas else 0.0,
            "recall": n_matched / n_ref if n_ref else float(not any(b))}


def _average_precision(ref_imgs, got_imgs, label, iou_min: float) -> float:
    """COCO 101-point interpolated AP of one class at one IoU threshold."""
    n_gt = sum(d["label"] == label for img in ref_imgs for d in img)
    scored = []  # (score, is true positive)
    for r, g in zip(ref_imgs, got_imgs):
        r = [d for d in r if d["label"] == label]
        g = [d for d in g if d["label"] == label]
        tp = {j for _, j, _ in _match(r, g, iou_min)}
        scored += [(d["score"], j in tp) for j, d in enumerate(g)]
    if n_gt == 0:
        return 1.0 if not scored else 0.0
    scored.sort(key=lambda x: -x[0])
    hits = np.cumsum([t for _, t in scored], dtype=np.float64)
    recall = hits / n_gt
    precision = hits / np.arange(1, len(scored) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(scored) else precision
    points = [precision[recall >= q].max() if (recall >= q).any() else 0.0 for q in np.linspace(0, 1, 101)]
    return float(np.mean(points))


@metric("detection_map")
def detection_map(ref: list, got: list) -> float:
    return detection_stats(ref, got)["map"]


@metric("detection_box_iou")
def detection_box_iou(ref: list, got: list) -> float:
    return detection_stats(ref, got)["mean_iou"]


@metric("detection_score_agreement")
def detection_score_agreement(ref: list, got: list) -> float:
    s = detection_stats(ref, got)
    return (1.0 - s["max_score_delta"]) * s["recall"]


# -- dense prediction: the reference model's masks / depth are the ground truth ----------------------
def _as_mask(mask) -> np.ndarray:
    """A result's mask: PIL image, array, or its JSON form {"image", "mode", "png"} (golden results)."""
    if isinstance(mask, dict) and "png" in mask:
        import base64
        import io

        from PIL import Image

        mask = Image.open(io.BytesIO(base64.b64decode(mask["png"])))
    return np.asarray(mask) > 0


def _seg_images(result) -> list:
    """Per image, its segments (one image: a list of dicts; a batch: a list of lists)."""
    return list(result) if isinstance(result, list) and result and isinstance(result[0], list) else [result]


def _depth_images(result) -> list:
    """Per image, its depth result (one image: a dict; a batch: a list of dicts)."""
    return [result] if isinstance(result, dict) else list(result or [])


def _label_masks(segments) -> dict:
    """label -> union of its segments' masks (panoptic results may hold several segments per label)."""
    out: dict = {}
    for d in segments or []:
        m = _as_mask(d["mask"])
        out[d["label"]] = out[d["label"]] | m if d["label"] in out and out[d["label"]].shape == m.shape else m
    return out


@metric("mean_iou")
def mean_iou(ref: list, got: list) -> float:
    """Mean over images and labels (either side) of the IoU of the label's masks (1.0 when identical)."""
    a = [img for r in ref for img in _seg_images(r)]
    b = [img for r in got for img in _seg_images(r)]
    if len(a) != len(b) or not a:
        return 0.0
    ious = []
    for ra, rb in zip(a, b):
        ma, mb = _label_masks(ra), _label_masks(rb)
        for label in set(ma) | set(mb):
            if label not in ma or label not in mb or ma[label].shape != mb[label].shape:
                ious.append(0.0)
                continue
            union = np.logical_or(ma[label], mb[label]).sum()
            ious.append(float(np.logical_and(ma[label], mb[label]).sum() / union) if union else 1.0)
    return float(np.mean(ious)) if ious else 1.0


def _depth_pairs(ref: list, got: list):
    a = [img for r in ref for img in _depth_images(r)]
    b = [img for r in got for img in _depth_images(r)]
    if len(a) != len(b) or not a:
        return None
    pairs = []
    for x, y in zip(a, b):
        p, q = np.asarray(x["predicted_depth"], np.float64), np.asarray(y["predicted_depth"], np.float64)
        if p.shape != q.shape:
            return None
        pairs.append((p, q))
    return pairs


def depth_stats(ref: list, got: list, eps: float = 1e-6) -> dict:
    """AbsRel (mean |d - d_ref| / |d_ref|) and δ1 (share of pixels with max(d/d_ref, d_ref/d) < 1.25)
    over every pixel of every image; |d| is floored at eps so zero depths stay finite."""
    pairs = _depth_pairs(ref, got)
    if pairs is None:
        return {"abs_rel": float("inf"), "delta1": 0.0}
    p = np.concatenate([x.ravel() for x, _ in pairs])
    q = np.concatenate([y.ravel() for _, y in pairs])
    ap, aq = np.maximum(np.abs(p), eps), np.maximum(np.abs(q), eps)
    ratio = np.maximum(ap / aq, aq / ap)
    same_sign = np.sign(p) * np.sign(q) >= 0
    return {"abs_rel": float(np.mean(np.abs(p - q) / ap)), "delta1": float(np.mean((ratio < 1.25) & same_sign))}


@metric("depth_abs_rel")
def depth_abs_rel(ref: list, got: list) -> float:
    """1 - AbsRel, clipped to [0, 1] (1.0 = identical depth)."""
    return float(min(1.0, max(0.0, 1.0 - depth_stats(ref, got)["abs_rel"])))


@metric("depth_delta1")
def depth_delta1(ref: list, got: list) -> float:
    return depth_stats(ref, got)["delta1"]


# -- speech recognition: character / word error rates -------------------------------------------------------
def edit_distance(ref, hyp) -> int:
    """Levenshtein distance (substitutions, insertions, deletions cost 1) between two sequences; one row
    of the DP table at a time, the inner loop vectorised over hyp."""
    ref, hyp = list(ref), list(hyp)
    if not ref or not hyp:
        return len(ref) + len(hyp)
    codes = {t: i for i, t in enumerate(dict.fromkeys(ref + hyp))}
    h = np.array([codes[t] for t in hyp])
    row = np.arange(len(hyp) + 1)
    for i, t in enumerate(ref, 1):
        # substitution/match and deletion from the previous row; insertions need a running minimum along the row
        diag = row[:-1] + (h != codes[t])
        new = np.minimum(np.concatenate(([i], diag)), row + 1)
        row = np.minimum.accumulate(new - np.arange(len(new))) + np.arange(len(new))
    return int(row[-1])


def _texts(results: list) -> list[str]:
    return [r.get("text", "") if isinstance(r, dict) else str(r) for r in results]


def error_rate(ref_texts: list[str], hyp_texts: list[str], unit: str = "char") -> float:
    """Corpus CER ("char") or WER ("word"): total edits / total reference length (jiwer's definition);
    an empty reference with a non-empty hypothesis counts its length as errors."""
    split = list if unit == "char" else str.split
    edits = sum(edit_distance(split(a), split(b)) for a, b in zip(ref_texts, hyp_texts))
    total = sum(len(split(a)) for a in ref_texts)
    return edits / total if total else float(edits > 0)


def asr_details(ref: list, got: list) -> dict:
    """What validate reports for transcripts: exact-match rate, CER and WER."""
    a, b = _texts(ref), _texts(got)
    return {"exact_match": float(np.mean([x == y for x, y in zip(a, b)])) if a and len(a) == len(b) else 0.0,
            "cer": error_rate(a, b, "char"), "wer": error_rate(a, b, "word")}


@metric("transcript_similarity")
def transcript_similarity(ref: list, got: list) -> float:
    """1 - CER (floored at 0): 1.0 only when every transcript is identical, graded for quantized bundles."""
    if len(ref) != len(got) or not ref:
        return 0.0
    return max(0.0, 1.0 - error_rate(_texts(ref), _texts(got), "char"))


# Extra numbers a metric reports next to its value (validate adds them to the metric's entry).
METRIC_DETAILS: dict[str, Callable[[list, list], dict]] = {"transcript_similarity": asr_details}


def details(name: str, ref: list, got: list) -> dict:
    fn = METRIC_DETAILS.get(name)
    return fn(ref, got) if fn else {}
