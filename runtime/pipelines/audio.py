"""Audio pipelines: audio-classification and CTC speech recognition (Wav2Vec2), like transformers'."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, UsageError
from ..postprocess.activations import ACTIVATIONS
from ..postprocess.ctc import ctc_decode, frames_kept, timestamp_chunks
from ..preprocess.audio import chunk_audio, load_audio, resample, wav2vec2_features
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
        return [self._load(x, sampling_rate) for x in items], single

    def _load(self, x, sampling_rate):
        # A bare array without sampling_rate is taken to be at the model's rate, as transformers assumes.
        if sampling_rate is None and isinstance(x, np.ndarray):
            sampling_rate = self.rate
        wave, rate = load_audio(x, sampling_rate)
        return wave if rate == self.rate else resample(wave, rate, self.rate)  # no copy of an hour-long array


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
        return ctc_decode(ids, self.vocab, self.ctc, offsets=False)[0]

    def __call__(self, inputs, sampling_rate: int | None = None, generate_kwargs: dict | None = None,
                 return_timestamps=None, chunk_length_s: float | None = None, stride_length_s=None, **options):
        waves, single = self._inputs(inputs, sampling_rate)
        if self.ctc is not None:
            if options or generate_kwargs:
                raise UnsupportedError(f"Options {sorted({*options, *(generate_kwargs or {})})} are not supported "
                                       "for CTC models (greedy CTC decoding has no generation options).")
            if return_timestamps not in (None, False, "char", "word"):
                raise UsageError(f'return_timestamps must be "char" or "word" for CTC models, got {return_timestamps!r}.')
            results = [self._ctc(w, return_timestamps or None, chunk_length_s, stride_length_s) for w in waves]
        else:
            if chunk_length_s:
                options["chunk_length_s"] = chunk_length_s
            if return_timestamps:
                options["return_timestamps"] = return_timestamps
            results = [self._whisper(w, {**(generate_kwargs or {}), **options}) for w in waves]
        return results[0] if single else results

    def _ratio(self) -> int:
        ratio = int(self.ctc.get("inputs_to_logits_ratio") or 0)
        if ratio <= 0:
            raise UnsupportedError("This bundle does not record the model's inputs_to_logits_ratio (exported by an "
                                   "older edgetool); re-export it to use timestamps or chunk_length_s.")
        return ratio

    def _ctc_ids(self, wave) -> np.ndarray:
        return self.run_graph("model", wav2vec2_features([wave], self.features))["logits"][0].argmax(-1).astype(np.int32)

    def _ctc(self, wave, timestamps, chunk_length_s, stride_length_s) -> dict:
        if chunk_length_s:
            # Chunk by chunk (bounded memory for hours of audio): each window's frames minus its overlap,
            # as the pipeline's chunk_iter + rescale_stride + postprocess.
            ratio = self._ratio()
            parts = [self._ctc_ids(c.wave)[frames_kept(len(c.wave), c.stride_left, c.stride_right, ratio)]
                     for c in chunk_audio(wave, self.rate, chunk_length_s, stride_length_s, align_to=ratio)]
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        else:
            ids = self._ctc_ids(wave)
        text, chars = ctc_decode(ids, self.vocab, self.ctc, offsets=bool(timestamps))
        if not timestamps:
            return {"text": text}
        space = self.ctc.get("replace_word_delimiter_char", " ")
        return {"text": text, "chunks": timestamp_chunks(chars, timestamps, self._ratio(), self.rate, space)}

    def _whisper(self, wave, kwargs: dict) -> dict:
        language, task = kwargs.pop("language", None), kwargs.pop("task", None)
        if kwargs.pop("return_timestamps", None):
            raise UnsupportedError("Whisper timestamps are not supported yet; drop return_timestamps.")
        window = int(self.features.get("n_samples") or 30 * self.rate)
        chunk_length_s = kwargs.pop("chunk_length_s", None)
        if chunk_length_s:
            if not 0 < chunk_length_s * self.rate <= window:
                raise UsageError(f"chunk_length_s for Whisper must be in (0, {window / self.rate:g}] seconds "
                                 f"(its input window), got {chunk_length_s}.")
            window = int(round(chunk_length_s * self.rate))
        # Long audio: consecutive windows, one generate each (features for one window at a time), the
        # generated ids concatenated; transformers instead merges overlapping chunks or runs long-form
        # timestamp decoding, which a no-timestamps transcript cannot reproduce.
        ids = []
        for start in range(0, max(len(wave), 1), window):
            ids += self._whisper_window(wave[start:start + window], language, task, dict(kwargs))
        return {"text": self.tokenizer.decode(ids, skip_special_tokens=True)}

    def _whisper_window(self, wave, language, task, kwargs: dict) -> list[int]:
        from ..generation import GenerationConfig, generate
        from ..preprocess.audio import whisper_features

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
        return [int(i) for i in generate(self.model, feats, np.array([init], np.int64), cfg)[0][len(init):]]

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
