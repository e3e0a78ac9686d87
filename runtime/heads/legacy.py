"""legacy: removed at merge. The family of a bundle written before the manifest named it, from the
discriminators those bundles carry; only so this branch's tests run on bundles of the current exporter."""
from __future__ import annotations

from . import ENCODER_TASKS  # legacy: removed at merge

_SEQ2SEQ = ("text2text-generation", "summarization", "translation")  # legacy: removed at merge
_BY_PROCESSOR = {"ViTImageProcessor": "vit", "DeiTImageProcessor": "vit", "ConvNextImageProcessor": "convnext",  # legacy: removed at merge
                 "GLPNImageProcessor": "glpn", "DPTImageProcessor": "dpt"}  # legacy: removed at merge
_SEGMENTERS = {"semantic": "segformer", "mask-classification": "maskformer"}  # legacy: removed at merge


def legacy_family(manifest: dict) -> str | None:  # legacy: removed at merge
    task, processing = manifest.get("task"), manifest.get("processing") or {}  # legacy: removed at merge
    model_type = (manifest.get("provenance") or {}).get("model_type") or ""  # legacy: removed at merge
    if task in ENCODER_TASKS:  # legacy: removed at merge
        return "encoder"  # legacy: removed at merge
    if task == "text-generation":  # legacy: removed at merge
        return "decoder"  # legacy: removed at merge
    if task in _SEQ2SEQ:  # legacy: removed at merge
        return "seq2seq"  # legacy: removed at merge
    if task == "image-to-text":  # legacy: removed at merge
        return "vision-encoder-decoder"  # legacy: removed at merge
    if task == "object-detection":  # legacy: removed at merge
        return processing.get("detector")  # legacy: removed at merge
    if task == "image-segmentation":  # legacy: removed at merge
        return _SEGMENTERS.get(processing.get("segmenter"))  # legacy: removed at merge
    if task == "audio-classification":  # legacy: removed at merge
        return "wav2vec2"  # legacy: removed at merge
    if task == "automatic-speech-recognition":  # legacy: removed at merge
        return "whisper" if processing.get("whisper") else "ctc" if "ctc" in processing else None  # legacy: removed at merge
    if task in ("image-classification", "depth-estimation"):  # legacy: removed at merge
        if model_type:  # legacy: removed at merge
            return model_type.replace("_", "-")  # legacy: removed at merge
        kind = (processing.get("image") or {}).get("image_processor_type", "ViTImageProcessor")  # legacy: removed at merge
        return _BY_PROCESSOR.get(kind.replace("Fast", ""))  # legacy: removed at merge (depth families share a head)
    return None  # legacy: removed at merge
