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
    """CTC models (greedy CTC decoding) and Whisper (encoder-decoder generation with its forced
    start tokens: <|startoftranscript|>, language, task, <|notimestamps|>)."""

    def setup(self) -> None:
        super().setup()
        self.ctc = self.bundle.processing.get("ctc")
        if self.ctc is not None:
            self.vocab = {int(k): v for k, v in self.ctc["id2token"].items()}
        elif self.bundle.processing.get("whisper"):
            from ..generation import EncoderDecoderModel
            from ..preprocess.text import TextTokenizer

            self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
            self.model = EncoderDecoderModel(self.run_graph, self.bundle.graphs)
            self.gen = dict((self.bundle.generation or {}).get("config") or {})
        else:
            raise UnsupportedError("This bundle's speech model is neither CTC nor Whisper.")

    def decode(self, ids) -> str:
        """Wav2Vec2CTCTokenizer.decode: collapse repeats, drop blanks (pad), word delimiter -> space."""
        tokens = [self.vocab[int(i)] for i in ids]
        chars = [t for t, _ in groupby(tokens) if t != self.ctc["pad_token"]]
        text = "".join(" " if c == self.ctc["word_delimiter_token"] else c for c in chars).strip()
        return text.lower() if self.ctc.get("do_lower_case") else text

    def __call__(self, inputs, sampling_rate: int | None = None, generate_kwargs: dict | None = None, **options):
        waves, single = self._inputs(inputs, sampling_rate)
        if self.ctc is not None:
            if options or generate_kwargs:
                raise UnsupportedError(f"Options {sorted({*options, *(generate_kwargs or {})})} are not supported "
                                       "for CTC models yet.")
            results = [self._ctc(w) for w in waves]
        else:
            results = [self._whisper(w, {**(generate_kwargs or {}), **options}) for w in waves]
        return results[0] if single else results

    def _ctc(self, wave) -> dict:
        logits = self.run_graph("model", wav2vec2_features([wave], self.features))["logits"][0]
        return {"text": self.decode(logits.argmax(-1))}

    def _whisper(self, wave, kwargs: dict) -> dict:
        from ..generation import GenerationConfig, generate
        from ..preprocess.audio import whisper_features

        language, task = kwargs.pop("language", None), kwargs.pop("task", None)
        if kwargs.pop("return_timestamps", None):
            raise UnsupportedError("Whisper timestamps are not supported yet; drop return_timestamps.")
        feats = whisper_features([wave], self.features)
        init = [self.gen["decoder_start_token_id"], self._language_id(language, feats)]
        task_ids = self.gen.get("task_to_id", {})
        if task is not None:
            if task not in task_ids:
                raise UsageError(f"task must be one of {sorted(task_ids)}, got {task!r}.")
            init.append(task_ids[task])
        elif language is not None and "transcribe" in task_ids:
            init.append(task_ids["transcribe"])
        if self.gen.get("no_timestamps_token_id") is not None:
            init.append(self.gen["no_timestamps_token_id"])
        defaults = {"max_new_tokens": 256}
        if self.gen.get("max_length", 20) != 20:
            defaults["max_new_tokens"] = None
        cfg = GenerationConfig.from_dict({**defaults, **self.gen}).update(**kwargs)
        ids = generate(self.model, feats, np.array([init], np.int64), cfg)
        return {"text": self.tokenizer.decode(ids[0][len(init):], skip_special_tokens=True)}

    def _language_id(self, language, feats) -> int:
        """The language token: given ("en" or "<|en|>"), or detected like transformers (argmax over the
        language tokens after <|startoftranscript|>)."""
        lang_ids = self.gen.get("lang_to_id", {})
        if language is not None:
            token = language if language.startswith("<|") else f"<|{language.lower()}|>"
            if token not in lang_ids:
                raise UsageError(f"Unknown language {language!r}; this model knows {sorted(lang_ids)}.")
            return lang_ids[token]
        state = self.model.start(feats, 1)
        logits = self.model.step(state, np.array([[self.gen["decoder_start_token_id"]]], np.int64))[0]
        mask = np.full(logits.shape, -np.inf, dtype=np.float32)
        mask[list(lang_ids.values())] = 0
        return int((logits + mask).argmax())

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n".join(r["text"] for r in rows)
