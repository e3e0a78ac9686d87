"""Audio pipelines: audio-classification and CTC speech recognition (Wav2Vec2), like transformers'."""
from __future__ import annotations

from itertools import groupby

import numpy as np

from ..errors import UnsupportedError, UsageError
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.audio import load_audio, wav2vec2_features
from .base import Pipeline


class _AudioPipeline(Pipeline):
    def setup(self) -> None:
        self.features = self.bundle.processing["audio"]
        self.rate = int(self.features.get("sampling_rate", 16000))

    def _inputs(self, inputs, sampling_rate=None) -> tuple[list[np.ndarray], bool]:
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        if not items:
            raise UsageError("Expected audio or a non-empty list of audio inputs, got an empty list.")
        return [load_audio(x, sampling_rate, self.rate) for x in items], single


class AudioClassificationPipeline(_AudioPipeline):
    def __call__(self, inputs, top_k: int = 5, function_to_apply: str = "softmax", sampling_rate: int | None = None):
        waves, single = self._inputs(inputs, sampling_rate)
        labels = self.bundle.id2label
        results = []
        for w in waves:
            logits = self.run_graph("model", wav2vec2_features([w], self.features))["logits"][0].astype(np.float32)
            scores = ACTIVATIONS[function_to_apply](logits)
            order = np.argsort(-scores, kind="stable")[:min(top_k, len(labels))]
            results.append([{"score": float(scores[i]), "label": labels[int(i)]} for i in order])
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        return "\n".join(f"{r['label']:<20} {r['score']:.4f}" for row in rows for r in row)


class SpeechRecognitionPipeline(_AudioPipeline):
    def setup(self) -> None:
        super().setup()
        self.ctc = self.bundle.processing.get("ctc")
        if self.ctc is None:
            raise UnsupportedError("This bundle's speech model is not CTC; sequence-to-sequence ASR (Whisper) "
                                   "is not implemented in the runtime yet.")
        self.vocab = {int(k): v for k, v in self.ctc["id2token"].items()}

    def decode(self, ids) -> str:
        """Wav2Vec2CTCTokenizer.decode: collapse repeats, drop blanks (pad), word delimiter -> space."""
        tokens = [self.vocab[int(i)] for i in ids]
        chars = [t for t, _ in groupby(tokens) if t != self.ctc["pad_token"]]
        text = "".join(" " if c == self.ctc["word_delimiter_token"] else c for c in chars).strip()
        return text.lower() if self.ctc.get("do_lower_case") else text

    def __call__(self, inputs, sampling_rate: int | None = None, **unsupported):
        if unsupported:
            raise UnsupportedError(f"Options {sorted(unsupported)} are not supported for CTC models yet.")
        waves, single = self._inputs(inputs, sampling_rate)
        results = []
        for w in waves:
            logits = self.run_graph("model", wav2vec2_features([w], self.features))["logits"][0]
            results.append({"text": self.decode(logits.argmax(-1))})
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n".join(r["text"] for r in rows)
