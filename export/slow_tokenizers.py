"""tokenizer.json for checkpoints whose transformers tokenizer is slow-only (SentencePiece), so the
runtime decodes with `tokenizers` like every other bundle and never needs `sentencepiece`.

A converter is registered per slow tokenizer class: the fast Tokenizer, and the settings the runtime
applies after `Tokenizer.decode` (processing.tokenizer.sentencepiece_decode) so that decoding answers
what the slow tokenizer's `decode` answers; tests/export/test_slow_tokenizers.py checks that on
random id sequences. Encoding with the converted tokenizer (a Unigram on the SentencePiece scores) is checked
against SentencePiece on the reference corpus only: the tasks these tokenizers serve (speech recognition)
only decode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgetool.runtime.errors import UnsupportedError


def _speech2text(tok):
    """Speech2TextTokenizer: ids are vocab.json's (fairseq's dictionary order, not the SentencePiece
    model's); decode = SentencePiece decode of the pieces ('▁' -> space, the first one dropped), stripped,
    upper-cased when do_upper_case."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    by_id = sorted(tok.encoder.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise UnsupportedError("Family 'speech2text': the tokenizer's vocab.json ids are not 0..n-1; it cannot be "
                               "converted to tokenizer.json.")
    sp = tok.sp_model
    unk = sp.unk_id()

    def score(piece: str) -> float:
        pid = sp.PieceToId(piece)
        return float(sp.GetScore(pid)) if pid != unk or piece == sp.IdToPiece(unk) else 0.0

    fast = Tokenizer(models.Unigram([(p, score(p)) for p, _ in by_id], unk_id=tok.encoder[str(tok.unk_token)],
                                    byte_fallback=False))
    if getattr(tok, "do_lower_case", False):  # the slow tokenizer lower-cases text before SentencePiece
        fast.normalizer = normalizers.Lowercase()
    fast.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    fast.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    fast.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tok.all_special_tokens])
    prefix = " ".join(f"{tok.convert_ids_to_tokens(i)}" for i in tok.prefix_tokens)  # a multilingual target language
    eos = str(tok.eos_token)
    fast.post_processor = processors.TemplateProcessing(  # build_inputs_with_special_tokens
        single=f"{prefix} $A {eos}".strip(), pair=f"{prefix} $A $B {eos}".strip(),
        special_tokens=[(t, tok.convert_tokens_to_ids(t)) for t in {*prefix.split(), eos}])
    return fast


def _sentencepiece_decode(tok) -> dict:
    return {"sentencepiece_decode": {"strip": True, "upper": bool(getattr(tok, "do_upper_case", False))}}


@dataclass(frozen=True)
class Converter:
    tokenizer: Callable  # slow tokenizer -> tokenizers.Tokenizer
    settings: Callable  # slow tokenizer -> keys for processing.tokenizer


CONVERTERS: dict[str, Converter] = {"Speech2TextTokenizer": Converter(_speech2text, _sentencepiece_decode)}


def _converter(tok) -> Converter | None:
    """None for a fast tokenizer; a one-line error for a slow one without a converter."""
    if getattr(tok, "is_fast", False):
        return None
    name = type(tok).__name__
    if name not in CONVERTERS:
        raise UnsupportedError(f"The checkpoint's {name} is slow-only (no tokenizer.json) and edgetool has no "
                               f"converter for it (it converts: {', '.join(CONVERTERS)}). Save a fast tokenizer "
                               "next to the weights (tokenizer.json) and export again.")
    return CONVERTERS[name]


def fast_tokenizer(tok):
    """The tokenizers.Tokenizer of a transformers tokenizer: its own, or converted from a slow one."""
    conv = _converter(tok)
    return tok.backend_tokenizer if conv is None else conv.tokenizer(tok)


def decode_settings(tok) -> dict:
    """What processing.tokenizer needs beyond tokenizer.json to decode like `tok` ({} for a fast tokenizer)."""
    conv = _converter(tok)
    return {} if conv is None else conv.settings(tok)
