"""Audio pipelines: audio-classification and automatic-speech-recognition, like transformers'.

The family's head (runtime/heads/speech.py) holds the model-specific steps: CTC decoding or Whisper
generation for speech recognition."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.audio import load_audio, resample
from .base import Pipeline, Prepared

if TYPE_CHECKING:
    from ..heads.speech import AudioClassificationHead, CtcHead, MoonshineHead, Speech2TextHead, WhisperHead


class _AudioPipeline(Pipeline):
    """One clip at a time."""

    def setup(self) -> None:
        self.features = self.bundle.processing["audio"]
        self.rate = int(self.features.get("sampling_rate", 16000))

    def split(self, inputs, opts) -> tuple[list[np.ndarray], bool]:
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        if not items:
            raise UsageError("Expected audio or a non-empty list of audio inputs, got an empty list.")
        return [self._load(x, opts["sampling_rate"]) for x in items], single

    def _load(self, x, sampling_rate):
        # A bare array without sampling_rate is taken to be at the model's rate, as transformers assumes.
        if sampling_rate is None and isinstance(x, np.ndarray):
            sampling_rate = self.rate
        wave, rate = load_audio(x, sampling_rate)
        return wave if rate == self.rate else resample(wave, rate, self.rate)  # no copy of an hour-long array

    def preprocess(self, batch, opts) -> Prepared:
        return Prepared(batch)  # features are the head's: it may cut the clip into windows first


class AudioClassificationPipeline(_AudioPipeline):
    head: AudioClassificationHead

    def sanitize(self, top_k: int = 5, function_to_apply: str = "softmax", sampling_rate: int | None = None) -> dict:
        return {"top_k": top_k, "function": ACTIVATIONS[function_to_apply], "sampling_rate": sampling_rate}

    def forward(self, prepared, opts):
        return [self.head.logits(w) for w in prepared.items]

    def postprocess(self, prepared, outputs, opts) -> list:
        labels = self.bundle.id2label
        results = []
        for logits in outputs:
            scores = opts["function"](logits)
            order = np.argsort(-scores, kind="stable")[:min(opts["top_k"], len(labels))]
            results.append([{"score": float(scores[i]), "label": labels[int(i)]} for i in order])
        return results


class SpeechRecognitionPipeline(_AudioPipeline):
    """CTC models (greedy CTC decoding) and Whisper (encoder-decoder generation); the head checks the
    options its family takes."""

    head: CtcHead | WhisperHead | MoonshineHead | Speech2TextHead

    def sanitize(self, sampling_rate: int | None = None, generate_kwargs: dict | None = None, return_timestamps=None,
                 chunk_length_s: float | None = None, stride_length_s=None, **options) -> dict:
        return {"sampling_rate": sampling_rate,
                **self.head.sanitize(generate_kwargs, return_timestamps, chunk_length_s, stride_length_s, options)}

    def forward(self, prepared, opts):
        # the head's own loop: several engine calls per clip (chunks, or generation steps)
        return [self.head.transcribe(w, opts) for w in prepared.items]

    def postprocess(self, prepared, outputs, opts) -> list:
        return outputs
