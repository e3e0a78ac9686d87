"""Audio heads.

audio-classification, wav2vec2 (and the CTC-style encoders exported like it), ast, whisper (the encoder
classifier): `logits(wave)`.
automatic-speech-recognition: `sanitize(...)` checks the call options for the family, then
`transcribe(wave, opts) -> {"text", ...}` runs the family's own loop (several engine calls: chunks, or
generation):
- ctc: greedy CTC decoding, optional char/word timestamps, optional chunking with strides.
- whisper: encoder-decoder generation with its forced start tokens (<|startoftranscript|>, language,
  task, <|notimestamps|>), one window of audio at a time.
- moonshine: raw samples (Wav2Vec2 feature extractor) into the encoder, generation from
  decoder_start_token_id over the whole clip (the pipeline's seq2seq path: no chunks, no timestamps).
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, UsageError
from ..names import LOGITS
from ..postprocess.ctc import ctc_decode, frames_kept, timestamp_chunks
from ..preprocess.audio import chunk_audio, wav2vec2_features
from .base import Head


class AudioClassificationHead(Head):
    def logits(self, wave: np.ndarray) -> np.ndarray:
        return self.forward(wav2vec2_features([wave], self.pipe.features))[LOGITS][0].astype(np.float32)


class AstHead(AudioClassificationHead):
    """Audio Spectrogram Transformer: NumPy Kaldi filter banks (ASTFeatureExtractor) instead of raw samples."""

    def logits(self, wave: np.ndarray) -> np.ndarray:
        from ..preprocess.ast_features import ast_features

        return self.forward(ast_features([wave], self.pipe.features))[LOGITS][0].astype(np.float32)


class WhisperClassificationHead(AudioClassificationHead):
    """WhisperForAudioClassification: Whisper log-mel features (one window, padded or cut) instead of raw samples."""

    def logits(self, wave: np.ndarray) -> np.ndarray:
        from ..preprocess.audio import whisper_features

        return self.forward(whisper_features([wave], self.pipe.features))[LOGITS][0].astype(np.float32)


class CtcHead(Head):
    def setup(self) -> None:
        self.ctc = self.bundle.processing["ctc"]
        self.vocab = {int(k): v for k, v in self.ctc["id2token"].items()}

    def sanitize(self, generate_kwargs, return_timestamps, chunk_length_s, stride_length_s, options: dict) -> dict:
        if options or generate_kwargs:
            raise UnsupportedError(f"Options {sorted({*options, *(generate_kwargs or {})})} are not supported "
                                   "for CTC models (greedy CTC decoding has no generation options).")
        if return_timestamps not in (None, False, "char", "word"):
            raise UsageError(f'return_timestamps must be "char" or "word" for CTC models, got {return_timestamps!r}.')
        return {"timestamps": return_timestamps or None, "chunk_length_s": chunk_length_s,
                "stride_length_s": stride_length_s}

    def decode(self, ids) -> str:
        """Wav2Vec2CTCTokenizer.decode: collapse repeats, drop blanks (pad), word delimiter -> space."""
        return ctc_decode(ids, self.vocab, self.ctc, offsets=False)[0]

    def _ratio(self) -> int:
        ratio = int(self.ctc.get("inputs_to_logits_ratio") or 0)
        if ratio <= 0:
            raise UnsupportedError("This bundle does not record the model's inputs_to_logits_ratio (exported by an "
                                   "older edgetool); re-export it to use timestamps or chunk_length_s.")
        return ratio

    def _ids(self, wave) -> np.ndarray:
        return self.forward(wav2vec2_features([wave], self.pipe.features))[LOGITS][0].argmax(-1).astype(np.int32)

    def transcribe(self, wave, opts: dict) -> dict:
        timestamps, rate = opts["timestamps"], self.pipe.rate
        if opts["chunk_length_s"]:
            # Chunk by chunk (bounded memory for hours of audio): each window's frames minus its overlap,
            # as the pipeline's chunk_iter + rescale_stride + postprocess.
            ratio = self._ratio()
            parts = [self._ids(c.wave)[frames_kept(len(c.wave), c.stride_left, c.stride_right, ratio)]
                     for c in chunk_audio(wave, rate, opts["chunk_length_s"], opts["stride_length_s"], align_to=ratio)]
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        else:
            ids = self._ids(wave)
        text, chars = ctc_decode(ids, self.vocab, self.ctc, offsets=bool(timestamps))
        if not timestamps:
            return {"text": text}
        space = self.ctc.get("replace_word_delimiter_char", " ")
        return {"text": text, "chunks": timestamp_chunks(chars, timestamps, self._ratio(), rate, space)}


class WhisperHead(Head):
    def setup(self) -> None:
        from ..generation import EncoderDecoderModel
        from ..preprocess.text import TextTokenizer

        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.model = EncoderDecoderModel(self.pipe.run_graph, self.bundle.graphs)
        self.gen = dict((self.bundle.generation or {}).get("config") or {})

    def sanitize(self, generate_kwargs, return_timestamps, chunk_length_s, stride_length_s, options: dict) -> dict:
        options = dict(options)
        if chunk_length_s:
            options["chunk_length_s"] = chunk_length_s
        if return_timestamps:
            options["return_timestamps"] = return_timestamps
        return {"kwargs": {**(generate_kwargs or {}), **options}}

    def transcribe(self, wave, opts: dict) -> dict:
        kwargs = dict(opts["kwargs"])
        rate = self.pipe.rate
        language, task = kwargs.pop("language", None), kwargs.pop("task", None)
        if kwargs.pop("return_timestamps", None):
            raise UnsupportedError("Whisper timestamps are not supported yet; drop return_timestamps.")
        window = int(self.pipe.features.get("n_samples") or 30 * rate)
        chunk_length_s = kwargs.pop("chunk_length_s", None)
        if chunk_length_s:
            if not 0 < chunk_length_s * rate <= window:
                raise UsageError(f"chunk_length_s for Whisper must be in (0, {window / rate:g}] seconds "
                                 f"(its input window), got {chunk_length_s}.")
            window = int(round(chunk_length_s * rate))
        # Long audio: consecutive windows, one generate each (features for one window at a time), the
        # generated ids concatenated; transformers instead merges overlapping chunks or runs long-form
        # timestamp decoding, which a no-timestamps transcript cannot reproduce.
        ids = []
        for start in range(0, max(len(wave), 1), window):
            ids += self._window(wave[start:start + window], language, task, dict(kwargs))
        return {"text": self.tokenizer.decode(ids, skip_special_tokens=True)}

    def _window(self, wave, language, task, kwargs: dict) -> list[int]:
        from ..generation import GenerationConfig, generate
        from ..preprocess.audio import whisper_features

        feats = whisper_features([wave], self.pipe.features)
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
        defaults: dict[str, int | None] = {"max_new_tokens": 256}
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


class MoonshineHead(Head):
    name = "Moonshine"

    def setup(self) -> None:
        from ..generation import EncoderDecoderModel
        from ..preprocess.text import TextTokenizer

        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.model = EncoderDecoderModel(self.pipe.run_graph, self.bundle.graphs)
        self.gen = dict((self.bundle.generation or {}).get("config") or {})

    def sanitize(self, generate_kwargs, return_timestamps, chunk_length_s, stride_length_s, options: dict) -> dict:
        if return_timestamps:
            raise UnsupportedError(f"{self.name} has no timestamps (transformers' seq2seq pipeline refuses them too); "
                                   "drop return_timestamps.")
        if chunk_length_s or stride_length_s:
            raise UnsupportedError(f"chunk_length_s / stride_length_s are not supported for {self.name}: the whole clip "
                                   "is transcribed at once, as transformers' seq2seq pipeline does.")
        return {"kwargs": {**(generate_kwargs or {}), **options}}

    def features(self, wave) -> dict[str, np.ndarray]:
        from ..names import INPUT_VALUES
        from ..preprocess.audio import wav2vec2_features

        return {INPUT_VALUES: wav2vec2_features([wave], self.pipe.features, return_attention_mask=False)[INPUT_VALUES]}

    def transcribe(self, wave, opts: dict) -> dict:
        from ..generation import GenerationConfig, generate

        feats = self.features(wave)
        init = np.array([[self.gen["decoder_start_token_id"]]], np.int64)
        # The ASR pipeline's defaults (max_new_tokens 256, 5 beams) where the model's generation config keeps
        # transformers' global ones; a max_length of its own drops the max_new_tokens default.
        defaults: dict[str, int | None] = {"max_new_tokens": 256, "num_beams": 5}
        if self.gen.get("max_length", 20) != 20:
            defaults["max_new_tokens"] = None
        gen = {k: v for k, v in self.gen.items() if not (k == "num_beams" and v == 1)}
        cfg = GenerationConfig.from_dict({**defaults, **gen}).update(**opts["kwargs"])
        ids = generate(self.model, feats, init, cfg)[0][init.shape[1]:]
        return {"text": self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)}


class Speech2TextHead(MoonshineHead):
    """Speech2Text: the same generation over Kaldi filter banks with utterance CMVN (input_features)."""

    name = "Speech2Text"

    def features(self, wave) -> dict[str, np.ndarray]:
        from ..preprocess.ast_features import speech2text_features

        return speech2text_features([wave], self.pipe.features)
