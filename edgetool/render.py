"""Human-readable text of pipeline results for `edgetool run` (the runtime returns data; showing it is
the tool's job). One renderer per task; JSON is the fallback and `--json` prints the pipeline's own
transformers-shaped result instead."""
from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np

from edgetool.runtime.registry import Registry

TEXT: Registry[Callable[[Any], str]] = Registry("text renderer")


def render(task: str, result: Any) -> str:
    if task in TEXT:
        return TEXT.get(task)(result)
    return json.dumps(result, indent=2, ensure_ascii=False)


def _rows(result) -> list:
    """A single input's result or a batch's list of results -> a list of per-input results."""
    return result if result and isinstance(result[0], list) else [result]


def _flat(result) -> list[dict]:
    rows = result if isinstance(result, list) else [result]
    return [r for row in rows for r in (row if isinstance(row, list) else [row])]


def _labels_scores(result, width: int, sep: str) -> str:
    return sep.join("\n".join(f"{r['label']:<{width}} {r['score']:.4f}" for r in row) for row in _rows(result))


@TEXT.register("text-classification")
def _text_classification(result) -> str:
    return "\n".join(f"{r['label']:<24} {r['score']:.4f}" for r in _flat(result))


@TEXT.register("token-classification")
def _entities(result) -> str:
    blocks = []
    for row in _rows(result):
        lines = [f"{'entity':<12} {'score':>6}  {'start':>6}  {'end':>6}  word"]
        lines += [f"{e.get('entity_group', e.get('entity')):<12} {e['score']:6.4f}  {e['start']:>6}  {e['end']:>6}  "
                  f"{e['word']}" for e in row]
        blocks.append("\n".join(lines) if row else "(no entities)")
    return "\n\n".join(blocks)


@TEXT.register("question-answering")
def _answers(result) -> str:
    lines = [f"{'score':>7}  {'start':>6}  {'end':>6}  answer"]
    lines += [f"{r['score']:7.4f}  {r['start']:>6}  {r['end']:>6}  {r['answer']!r}" for r in _flat(result)]
    return "\n".join(lines)


@TEXT.register("fill-mask")
def _fill_mask(result) -> str:
    lines = [f"{'score':>7}  {'token':<16} sequence"]
    for r in _flat(result):
        seq = r["sequence"] if len(r["sequence"]) <= 100 else r["sequence"][:97] + "..."
        lines.append(f"{r['score']:7.4f}  {r['token_str']!s:<16} {seq}")
    return "\n".join(lines)


@TEXT.register("feature-extraction")
def _embeddings(result) -> str:
    arr = result if isinstance(result, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(result, dtype=np.float32)
        except ValueError:  # ragged token embeddings of a batch: one line each
            return "\n".join(_embeddings(r) for r in result)
    head = ", ".join(f"{v:.4f}" for v in arr.reshape(-1)[:6])
    kind = "sentence embedding(s)" if arr.ndim <= 2 else "token embeddings"
    norm = np.linalg.norm(arr.reshape(-1, arr.shape[-1]), axis=-1).mean()
    return f"{kind} {' x '.join(map(str, arr.shape))}  [{head}, ...]  mean L2 norm {norm:.4f}"


@TEXT.register("zero-shot-classification")
def _zero_shot(result) -> str:
    blocks = []
    for r in result if isinstance(result, list) else [result]:
        head = r["sequence"] if len(r["sequence"]) <= 80 else r["sequence"][:77] + "..."
        width = max(len(lab) for lab in r["labels"]) + 2
        blocks.append("\n".join([head] + [f"  {lab:<{width}} {s:.4f}" for lab, s in zip(r["labels"], r["scores"])]))
    return "\n\n".join(blocks)


@TEXT.register("multiple-choice")
def _choices(result) -> str:
    lines = [result["prompt"] if len(result["prompt"]) <= 80 else result["prompt"][:77] + "...",
             f"     {'score':>7}  {'logit':>8}  choice"]
    for c, s, lg in zip(result["choices"], result["scores"], result["logits"]):
        lines.append(f"  {'*' if c == result['answer'] else ' '}  {s:7.4f}  {lg:8.4f}  {c}")
    return "\n".join(lines)


def _generated(result) -> str:
    return "\n".join(next(iter(r.values())) for r in _flat(result))


for _task in ("text-generation", "text2text-generation", "summarization", "translation", "image-to-text"):
    TEXT.add(_task, _generated)


@TEXT.register("image-classification")
def _image_labels(result) -> str:
    return _labels_scores(result, 24, "\n\n")


@TEXT.register("audio-classification")
def _audio_labels(result) -> str:
    return "\n".join(f"{r['label']:<20} {r['score']:.4f}" for row in _rows(result) for r in row)


@TEXT.register("automatic-speech-recognition")
def _transcripts(result) -> str:
    return "\n".join(r["text"] for r in (result if isinstance(result, list) else [result]))


@TEXT.register("object-detection")
def _detections(result) -> str:
    return "\n\n".join("\n".join(f"{d['label']:<16} {d['score']:.4f}  ({d['box']['xmin']}, {d['box']['ymin']}, "
                                  f"{d['box']['xmax']}, {d['box']['ymax']})" for d in row) or "(no detections)"
                       for row in _rows(result))


@TEXT.register("image-segmentation")
def _segments(result) -> str:
    return "\n\n".join("\n".join(
        f"{d['label']:<16} {'-' if d['score'] is None else format(d['score'], '.4f'):>7}  "
        f"{int((np.asarray(d['mask']) > 0).sum())} px" for d in row) or "(no segments)" for row in _rows(result))


@TEXT.register("depth-estimation")
def _depth(result) -> str:
    return "\n".join(f"depth map {r['predicted_depth'].shape[1]}x{r['predicted_depth'].shape[0]}: "
                     f"min {r['predicted_depth'].min():.4f}, max {r['predicted_depth'].max():.4f}"
                     for r in (result if isinstance(result, list) else [result]))


def print_stream(pieces, echo: Callable[..., None]):
    """Show streamed text as it comes (no newline until the end); returns the generator's own return
    value (the pipeline's result, for `pipeline.stream`)."""
    while True:
        try:
            echo(next(pieces), nl=False)
        except StopIteration as done:
            echo("")
            return done.value
