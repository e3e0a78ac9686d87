"""Runtime heads: what one model family does on the device for one task, keyed `(task, family)`.

A family is one export-side adapter plus one runtime head. The bundle names its family in the
manifest (`Bundle.family`); the pipeline of the task asks this registry for the head and leaves to
it everything that differs between families (pre-processing, which graphs to run and how, the
decoding of the outputs), keeping only the task's own steps (inputs, options, result shape).
Nothing looks at processing keys or graph names to guess the family.

    head = make_head(pipe)   # the head class for (bundle.task, bundle.family), bound to the pipeline

One head class may serve several families (depth: glpn, dpt, depth-anything) and several tasks (the
encoder family of the seven text tasks). Entries are lazy, so a device imports only its own head.
"""
from __future__ import annotations

from typing import cast

from ..errors import BundleError
from ..registry import Registry
from .base import Head

HEADS: Registry[type] = Registry("head")

# The seven text tasks whose family is any encoder their AutoModel class loads.
ENCODER_TASKS = ("text-classification", "token-classification", "question-answering", "fill-mask",
                 "feature-extraction", "zero-shot-classification", "multiple-choice")
_HERE = __name__
# The image-classification families: one graph pixel_values -> logits; the checkpoint's image processor
# (preprocess/classify_image.py) is all that differs between them.
IMAGE_CLASSIFIERS = ("vit", "deit", "beit", "swin", "convnext", "resnet", "regnet", "mobilenet", "efficientnet",
                     "mobilevit", "dinov2", "levit", "poolformer")
# The semantic-segmentation families beside segformer: per-pixel logits, SegFormer's post-processing.
SEMANTIC_SEGMENTERS = ("dpt", "mobilevit", "upernet", "beit")

_ENTRIES = [
    *((task, "encoder", "base:Head") for task in ENCODER_TASKS),
    ("text-generation", "decoder", "generation:DecoderHead"),
    *((task, "seq2seq", "generation:Seq2SeqHead") for task in ("text2text-generation", "summarization", "translation")),
    ("image-to-text", "vision-encoder-decoder", "generation:Seq2SeqHead"),
    *(("image-classification", family, "image:ImageHead") for family in IMAGE_CLASSIFIERS),
    ("object-detection", "detr", "detection:DetrHead"),
    ("object-detection", "table-transformer", "detection:DetrHead"),
    ("object-detection", "conditional-detr", "detection:ConditionalDetrHead"),
    ("object-detection", "yolos", "detection:DetrHead"),
    ("object-detection", "rt-detr", "detection:RtDetrHead"),
    ("object-detection", "d-fine", "detection:RtDetrHead"),
    ("object-detection", "deformable-detr", "detection:ConditionalDetrHead"),
    ("object-detection", "yolo", "detection:YoloHead"),
    ("image-segmentation", "segformer", "segmentation:SemanticHead"),
    ("image-segmentation", "maskformer", "segmentation:MaskClassificationHead"),
    ("image-segmentation", "mask2former", "segmentation:Mask2FormerHead"),
    *(("image-segmentation", family, "segmentation:SemanticHead") for family in SEMANTIC_SEGMENTERS),
    ("depth-estimation", "glpn", "image:DepthHead"),
    ("depth-estimation", "dpt", "image:DepthHead"),
    ("depth-estimation", "depth-anything", "image:DepthHead"),
    ("depth-estimation", "zoedepth", "image:ZoeDepthHead"),
    ("audio-classification", "wav2vec2", "speech:AudioClassificationHead"),
    ("audio-classification", "ast", "speech:AstHead"),
    ("audio-classification", "whisper", "speech:WhisperClassificationHead"),
    ("automatic-speech-recognition", "ctc", "speech:CtcHead"),
    ("automatic-speech-recognition", "whisper", "speech:WhisperHead"),
    ("automatic-speech-recognition", "moonshine", "speech:MoonshineHead"),
    ("automatic-speech-recognition", "speech2text", "speech:Speech2TextHead"),
]
for _task, _family, _ref in _ENTRIES:
    HEADS.add((_task, _family), f"{_HERE}.{_ref}")


def families(task: str) -> list[str]:
    """The families registered for a task, in registration order."""
    return [family for t, family in cast("list[tuple[str, str]]", HEADS.keys()) if t == task]


def head_class(task: str, family: str | None) -> type[Head]:
    """The head of `(task, family)`; an unknown pair is a BundleError naming it."""
    if (task, family) not in HEADS:
        known = families(task)
        raise BundleError(
            f"This bundle's model family {family!r} for task '{task}' has no runtime head here (families of "
            f"'{task}': {', '.join(known) or 'none'}). Re-export the bundle with this edgetool version.")
    return HEADS.get((task, family))


def make_head(pipe) -> Head:
    """The head for the pipeline's bundle, bound to the pipeline."""
    return head_class(pipe.bundle.task, pipe.bundle.family)(pipe)


__all__ = ["HEADS", "ENCODER_TASKS", "Head", "families", "head_class", "make_head"]
