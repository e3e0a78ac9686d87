"""Export families of the audio tasks: audio-classification (`wav2vec2`, `ast`, `whisper`: Whisper's encoder
classifier on log-mel features) and automatic-speech-recognition (`ctc`: Wav2Vec2-style CTC encoders, traced with
TorchScript; `whisper`: encoder-decoder with a KV cache; `moonshine`: raw samples into a conv encoder, decoder with a KV cache; `speech2text`: Kaldi filter banks into a
conv encoder, decoder with a KV cache)."""
from __future__ import annotations

import json
import shutil

import numpy as np

from edgetool.runtime import names
from edgetool.runtime.errors import UnsupportedError

from . import Adapter, Sample
from ..graphs import GraphExport, NamedIO
from .text import config_labels, ref
from .text_common import write_tokenizer

# Wav2Vec2-style encoders (raw 16 kHz samples in, frame logits out) that export and match today.
WAV2VEC2_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")


def feature_config(source) -> dict:
    return json.loads((source.path / "preprocessor_config.json").read_text(encoding="utf-8"))


def _graph(sequence_logits: bool):
    def build(source, opts):
        import torch

        inputs = [names.INPUT_VALUES, names.ATTENTION_MASK] if feature_config(source).get("return_attention_mask") \
            else [names.INPUT_VALUES]
        x = {names.INPUT_VALUES: torch.randn(2, 16000), names.ATTENTION_MASK: torch.ones(2, 16000, dtype=torch.int64)}
        x = {n: x[n] for n in inputs}
        axes = {n: {0: names.BATCH, 1: names.SAMPLES} for n in inputs}
        axes[names.LOGITS] = {0: names.BATCH, 1: names.FRAMES} if sequence_logits else {0: names.BATCH}
        return [GraphExport("model", NamedIO(source.model, inputs, lambda o: (o.logits,)), x, [names.LOGITS], axes)]
    return build


def sample_audio() -> list[np.ndarray]:
    """A chirp, a tone with noise and a short burst: deterministic, 16 kHz."""
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    chirp = np.sin(2 * np.pi * (200 + 1800 * t) * t)
    tone = 0.5 * np.sin(2 * np.pi * 440 * t[:12000]) + 0.05 * rng.standard_normal(12000)
    return [chirp.astype(np.float32), tone.astype(np.float32), (0.3 * rng.standard_normal(3200)).astype(np.float32)]


def _copy_features(source, staging) -> list[str]:
    shutil.copyfile(source.path / "preprocessor_config.json", staging / "preprocessor_config.json")
    return ["preprocessor_config.json"]


WAV2VEC2 = Adapter(
    task="audio-classification", family="wav2vec2", model_types=WAV2VEC2_TYPES,
    auto_class="AutoModelForAudioClassification",
    references=(ref("wav2vec2-tiny-classifier", "audio", "wav2vec2_tiny_classifier"),),
    graphs=_graph(sequence_logits=False),
    processing=lambda source: {"audio": feature_config(source)},
    labels=config_labels,
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
)


def _ctc_processing(source) -> dict:
    tok = source.tokenizer()
    return {"audio": feature_config(source), "ctc": {
        "id2token": {str(i): t for t, i in tok.get_vocab().items()}, "pad_token": tok.pad_token,
        "word_delimiter_token": getattr(tok, "word_delimiter_token", "|"),
        "do_lower_case": bool(getattr(tok, "do_lower_case", False)),
        "replace_word_delimiter_char": getattr(tok, "replace_word_delimiter_char", " "),
        # samples per logits frame: timestamps and chunk strides are counted in it
        "inputs_to_logits_ratio": int(getattr(source.config, "inputs_to_logits_ratio", 0) or 0)}}


CTC = Adapter(
    task="automatic-speech-recognition", family="ctc", model_types=WAV2VEC2_TYPES,
    auto_class="AutoModelForCTC",
    references=(ref("wav2vec2-tiny-ctc", "audio", "wav2vec2_tiny_ctc"),),
    graphs=_graph(sequence_logits=True),
    processing=_ctc_processing,
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
)


def _whisper_graphs(source, opts):
    import torch

    from ..graphs_generation import seq2seq_graphs

    mels = feature_config(source).get("feature_size", 80)
    x = {names.INPUT_FEATURES: torch.randn(2, mels, 3000)}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {names.INPUT_FEATURES: {0: names.BATCH}}, int(start), uses_mask=False)


def _whisper_processing(source) -> dict:
    from .generation import text_processing

    return {**text_processing(source), "audio": feature_config(source)}


def _whisper_generation(source) -> dict:
    from .generation import generation

    return generation("encoder-decoder")(source)


WHISPER = Adapter(
    task="automatic-speech-recognition", family="whisper", model_types=("whisper",),
    no_pipeline_reference="transformers 4.57's Whisper ASR pipeline does not always agree with generate (it reuses one "
                          "mutable generation_config across calls); Whisper's answers are checked against generate "
                          "through the golden tensors (docs/toolchain-notes.md)",
    auto_class="AutoModelForSpeechSeq2Seq",
    references=(ref("whisper-tiny-random", "audio", "whisper_tiny"),),
    graphs=_whisper_graphs,
    processing=_whisper_processing,
    generation=_whisper_generation,
    samples=lambda source: [
        Sample([sample_audio()[0]], {"generate_kwargs": {"language": "en", "max_new_tokens": 8}}),
        Sample([sample_audio()[1]], {"generate_kwargs": {"max_new_tokens": 6}})],
    files=lambda source, staging: _copy_features(source, staging) + write_tokenizer(source, staging),
)


def _ast_graph(source, opts):
    import torch

    cfg = feature_config(source)
    x = {names.INPUT_VALUES: torch.randn(2, int(cfg.get("max_length", 1024)), int(cfg.get("num_mel_bins", 128)))}
    axes = {names.INPUT_VALUES: {0: names.BATCH}, names.LOGITS: {0: names.BATCH}}
    return [GraphExport("model", NamedIO(source.model, [names.INPUT_VALUES], lambda o: (o.logits,)), x, [names.LOGITS],
                        axes)]


# Audio Spectrogram Transformer: Kaldi fbank features (runtime/preprocess/ast_features.py) -> logits.
AST = Adapter(
    task="audio-classification", family="ast", model_types=("audio-spectrogram-transformer",),
    auto_class="AutoModelForAudioClassification",
    references=(ref("ast-tiny-classifier", "ast", "ast_tiny_classifier"),),
    graphs=_ast_graph,
    processing=lambda source: {"audio": feature_config(source)},
    labels=config_labels,
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
)


# WhisperFeatureExtractor's settings the runtime's whisper_features reproduces (runtime/preprocess/audio.py), and
# the ones it reads whose value must be the default; anything else in preprocessor_config.json is refused.
WHISPER_FEATURE_KEYS = frozenset({"feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft",
                                  "padding_value", "dither", "n_samples", "nb_max_frames"})
_NEUTRAL_FEATURE_KEYS = frozenset({"feature_extractor_type", "processor_class", "auto_map"})
_FIXED_FEATURE_KEYS = {"padding_side": "right", "return_attention_mask": False}


def checked_whisper_features(source, family: str = "whisper") -> dict:
    """preprocessor_config.json of a Whisper checkpoint, every key honoured or refused by key and value."""
    cfg = feature_config(source)
    kind = cfg.get("feature_extractor_type", "WhisperFeatureExtractor")
    if kind != "WhisperFeatureExtractor":
        raise UnsupportedError(f"Family '{family}': feature_extractor_type={kind!r} is not supported "
                               "(expected WhisperFeatureExtractor).")
    for key, value in cfg.items():
        if key in WHISPER_FEATURE_KEYS or key in _NEUTRAL_FEATURE_KEYS:
            continue
        if key in _FIXED_FEATURE_KEYS and value == _FIXED_FEATURE_KEYS[key]:
            continue
        expected = f" (supported: {_FIXED_FEATURE_KEYS[key]!r})" if key in _FIXED_FEATURE_KEYS else ""
        raise UnsupportedError(f"Family '{family}': WhisperFeatureExtractor setting {key}={value!r} is not "
                               f"supported{expected}; the runtime's log-mel features would differ.")
    rate = int(cfg.get("sampling_rate", 16000))
    n_samples = int(cfg.get("chunk_length", 30)) * rate
    if int(cfg.get("n_samples", n_samples)) != n_samples:
        raise UnsupportedError(f"Family '{family}': n_samples={cfg['n_samples']!r} disagrees with chunk_length x "
                               f"sampling_rate = {n_samples}, which transformers uses.")
    return {**cfg, "n_samples": n_samples}


def _whisper_classifier_graph(source, opts):
    import torch

    cfg = checked_whisper_features(source)
    frames = int(cfg["n_samples"]) // int(cfg.get("hop_length", 160))
    x = {names.INPUT_FEATURES: torch.randn(2, int(cfg.get("feature_size", 80)), frames)}
    axes = {names.INPUT_FEATURES: {0: names.BATCH}, names.LOGITS: {0: names.BATCH}}
    return [GraphExport("model", NamedIO(source.model, [names.INPUT_FEATURES], lambda o: (o.logits,)), x,
                        [names.LOGITS], axes)]


# Whisper's encoder classifier (WhisperForAudioClassification): Whisper log-mel features -> logits.
WHISPER_CLASSIFIER = Adapter(
    task="audio-classification", family="whisper", model_types=("whisper",),
    auto_class="AutoModelForAudioClassification",
    references=(ref("whisper-tiny-classifier", "audio", "whisper_tiny_classifier"),),
    graphs=_whisper_classifier_graph,
    processing=lambda source: {"audio": checked_whisper_features(source)},
    labels=config_labels,
    samples=lambda source: [Sample([a]) for a in sample_audio()],
    files=_copy_features,
)


def _moonshine_graphs(source, opts):
    import torch

    from ..graphs_generation import seq2seq_graphs

    x = {names.INPUT_VALUES: torch.randn(2, 16000)}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {names.INPUT_VALUES: {0: names.BATCH, 1: names.SAMPLES}}, int(start),
                          uses_mask=False)


def _moonshine_processing(source) -> dict:
    from .generation import text_processing

    cfg = feature_config(source)
    kind = cfg.get("feature_extractor_type", "Wav2Vec2FeatureExtractor")
    if kind != "Wav2Vec2FeatureExtractor":
        raise UnsupportedError(f"Family 'moonshine': feature_extractor_type={kind!r} is not supported "
                               "(expected Wav2Vec2FeatureExtractor, which Moonshine checkpoints ship).")
    return {**text_processing(source), "audio": cfg}


# Moonshine: raw 16 kHz samples (Wav2Vec2FeatureExtractor) -> conv encoder; decoder generation from
# decoder_start_token_id, one clip at a time (the pipeline's own seq2seq path: no chunking).
MOONSHINE = Adapter(
    task="automatic-speech-recognition", family="moonshine", model_types=("moonshine",),
    auto_class="AutoModelForSpeechSeq2Seq",
    references=(ref("moonshine-tiny-random", "audio", "moonshine_tiny"),),
    graphs=_moonshine_graphs,
    processing=_moonshine_processing,
    generation=_whisper_generation,
    samples=lambda source: [Sample([a]) for a in sample_audio()[:2]],
    files=lambda source, staging: _copy_features(source, staging) + write_tokenizer(source, staging),
)


# Speech2TextFeatureExtractor's settings: reproduced by runtime/preprocess/ast_features.py speech2text_features.
S2T_FEATURE_KEYS = frozenset({"feature_size", "sampling_rate", "num_mel_bins", "padding_value", "dither",
                              "do_ceptral_normalize", "normalize_means", "normalize_vars", "return_attention_mask",
                              "padding_side"})


def _speech2text_processing(source) -> dict:
    from .generation import text_processing

    cfg = feature_config(source)
    kind = cfg.get("feature_extractor_type", "Speech2TextFeatureExtractor")
    if kind != "Speech2TextFeatureExtractor":
        raise UnsupportedError(f"Family 'speech2text': feature_extractor_type={kind!r} is not supported "
                               "(expected Speech2TextFeatureExtractor).")
    for key, value in cfg.items():
        if key not in S2T_FEATURE_KEYS and key not in _NEUTRAL_FEATURE_KEYS:
            raise UnsupportedError(f"Family 'speech2text': Speech2TextFeatureExtractor setting {key}={value!r} is "
                                   "not supported; the runtime's filter banks would differ.")
    if int(cfg.get("feature_size", 80)) != int(cfg.get("num_mel_bins", 80)):
        raise UnsupportedError(f"Family 'speech2text': feature_size={cfg.get('feature_size', 80)!r} differs from "
                               f"num_mel_bins={cfg.get('num_mel_bins', 80)!r}; the model reads num_mel_bins features.")
    return {**text_processing(source), "audio": cfg}


def _speech2text_graphs(source, opts):
    import torch

    from ..graphs_generation import seq2seq_graphs

    mels = int(feature_config(source).get("num_mel_bins", 80))
    x = {names.INPUT_FEATURES: torch.randn(2, 120, mels)}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {names.INPUT_FEATURES: {0: names.BATCH, 1: names.FRAMES}}, int(start),
                          uses_mask=False)


# Speech2Text: Kaldi filter banks with utterance CMVN (one clip, unpadded) -> conv subsampler + encoder; decoder
# generation with the ASR pipeline's defaults (runtime/heads/speech.py Seq2SeqSpeechHead).
SPEECH2TEXT = Adapter(
    task="automatic-speech-recognition", family="speech2text", model_types=("speech_to_text",),
    auto_class="AutoModelForSpeechSeq2Seq",
    references=(ref("speech2text-tiny-random", "audio", "speech2text_tiny"),),
    graphs=_speech2text_graphs,
    processing=_speech2text_processing,
    generation=_whisper_generation,
    samples=lambda source: [Sample([a]) for a in sample_audio()[:2]],
    files=lambda source, staging: _copy_features(source, staging) + write_tokenizer(source, staging),
)
