"""Tokenization with the `tokenizers` library, mirroring a Hugging Face fast tokenizer.

The manifest's `processing.tokenizer` block carries what `tokenizer_config.json` adds on top of
`tokenizer.json` (special tokens, model max length, padding side), so the device needs neither
transformers nor the config files.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError

if TYPE_CHECKING:
    from tokenizers import Encoding


@dataclass
class Encoded:
    """A padded batch: arrays by model input name, plus the tokenizers Encodings (offsets, word ids)."""

    arrays: dict[str, np.ndarray]
    encodings: list


def check_texts(texts, what: str = "text") -> list[str]:
    """A str or list of str, each non-empty after stripping; anything else is a clear error."""
    if isinstance(texts, str) and texts.strip():  # the one-text hot path; an empty one gets the message below
        return [texts]
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, (list, tuple)) or not items:
        raise UsageError(f"Expected a {what} (str) or a non-empty list of them, got {type(texts).__name__}.")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise UsageError(f"Expected {what} #{i} to be a str, got {type(t).__name__}. Pass text, not {type(t).__name__}.")
        if not t.strip():
            raise UsageError(f"{what.capitalize()} #{i} is empty (or only whitespace); give some text to process.")
    return list(items)


class TextTokenizer:
    def __init__(self, tokenizer_file: Path, config: dict):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            from ..errors import EngineMissingError

            # tokenizers is a base dependency (there is no "runtime" extra): a broken or --no-deps install
            raise EngineMissingError("tokenizers is not installed (import of 'tokenizers' failed); edgetool's base "
                                     "install needs it: pip install edgetool, or pip install 'tokenizers>=0.19'.") from None
        self.tok = Tokenizer.from_file(str(tokenizer_file))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.config = config
        self.max_length = int(config.get("model_max_length") or 512)
        self.pad_token = config.get("pad_token")
        self.pad_id = self.tok.token_to_id(self.pad_token) if self.pad_token else 0
        if self.pad_id is None:
            self.pad_id = 0
        self.padding_side = config.get("padding_side", "right")
        self.input_names = tuple(config.get("model_input_names") or ("input_ids", "token_type_ids", "attention_mask"))
        # pad()'s outputs in its order, and a getter of the Encoding lists they come from (resolved once, not per call)
        fields = [(name, attr) for name, attr in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                                  ("token_type_ids", "type_ids")) if name in self.input_names]
        self._pad_names = tuple(name for name, _ in fields)
        attrs = [attr for _, attr in fields]
        self._pad_lists = attrgetter(*attrs) if len(attrs) > 1 else lambda e: [getattr(e, a) for a in attrs]
        self._text_prefix: list[str] | None = None  # token_text()'s "abcdef" tokens

    def token_id(self, token: str) -> int | None:
        return self.tok.token_to_id(token)

    def encode(self, texts: list[str], pairs: list[str] | None = None, *, max_length: int | None = None,
               truncation: bool | str = True, add_special_tokens: bool = True, stride: int = 0,
               return_overflowing: bool = False) -> Encoded:
        """Tokenize a batch and pad it to its longest member (like `padding=True`)."""
        limit = min(max_length or self.max_length, self.max_length)
        if truncation:  # the tokenizer is kept without truncation between calls: set only when asked
            strategy = truncation if isinstance(truncation, str) else "longest_first"
            self.tok.enable_truncation(limit, stride=stride, strategy=strategy)
        try:
            if len(texts) == 1:  # encode_batch would wake the tokenizer's thread pool for one text
                if pairs is None and add_special_tokens:  # the defaults: no keyword parsing on the hot path
                    encs = [self.tok.encode(texts[0])]
                else:
                    encs = [self.tok.encode(texts[0], pairs[0] if pairs is not None else None,
                                            add_special_tokens=add_special_tokens)]
            else:
                batch = list(zip(texts, pairs)) if pairs is not None else list(texts)
                encs = self.tok.encode_batch(batch, add_special_tokens=add_special_tokens)
        finally:
            if truncation:
                self.tok.no_truncation()
        if return_overflowing:
            encs = [e for enc in encs for e in [enc, *enc.overflowing]]
        return Encoded(self.pad(encs), encs)

    def encode_one(self, text: str) -> tuple[dict[str, np.ndarray], Encoding]:
        """(arrays, Encoding) of one text with its special tokens, not truncated: what encode([text],
        truncation=False) gives, without its batch and option handling (the one-text hot path)."""
        enc = self.tok.encode(text)
        return self.pad([enc]), enc

    def pad(self, encs) -> dict[str, np.ndarray]:
        if len(encs) == 1:  # the batch-1 hot path: nothing to pad; one array, a [1, tokens] row per input
            return dict(zip(self._pad_names, np.array(self._pad_lists(encs[0]), np.int64)[:, None]))
        n = max(len(e.ids) for e in encs)
        ids = np.full((len(encs), n), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), n), dtype=np.int64)
        types = np.zeros((len(encs), n), dtype=np.int64)
        for i, e in enumerate(encs):
            k = len(e.ids)
            sl = slice(0, k) if self.padding_side == "right" else slice(n - k, n)
            ids[i, sl] = e.ids
            mask[i, sl] = e.attention_mask
            types[i, sl] = e.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: v for k, v in arrays.items() if k in self.input_names}

    def token_text(self, token: int) -> str:
        """One token's text as transformers' StopStringCriteria sees it (`clean_tokenizer_vocab`): the
        decoder run on the tokens of "abcdef" followed by this token, minus that prefix, so a token's
        leading space ("Ġ", "▁") shows and no prefix space is added or removed."""
        if self._text_prefix is None:
            self._text_prefix = [self.tok.id_to_token(i) for i in self.tok.encode("abcdef", add_special_tokens=False).ids]
        tokens = [*self._text_prefix, self.tok.id_to_token(int(token)) or ""]
        decoder = self.tok.decoder
        text = decoder.decode(tokens) if decoder is not None else " ".join(tokens)
        return text[text.index("abcdef") + 6:]

    def decode(self, ids, skip_special_tokens: bool = True, clean_up: bool | None = None) -> str:
        """Like the transformers tokenizer's decode; clean_up None follows the tokenizer's config."""
        text = self.tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)
        spm = self.config.get("sentencepiece_decode")
        if spm:  # a converted slow tokenizer (export/slow_tokenizers.py): what its convert_tokens_to_string does
            text = text.upper() if spm.get("upper") else text
            text = text.strip() if spm.get("strip") else text
        if clean_up is None:
            clean_up = bool(self.config.get("clean_up_tokenization_spaces", False))
        return clean_up_spaces(text) if clean_up else text


_CLEANUPS = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def clean_up_spaces(text: str) -> str:
    """transformers' clean_up_tokenization."""
    for a, b in _CLEANUPS:
        text = text.replace(a, b)
    return text
