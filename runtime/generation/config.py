"""Generation settings: read from a model's generation_config.json, overridden per call, checked once.

Field names and meanings are transformers' (4.57), so a generation_config.json saved by transformers
loads as is (unknown keys are ignored) and call options read the same as `model.generate(...)`'s.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import UsageError, did_you_mean

# transformers' model-agnostic default max_length: when nobody chose a length, it means "20 new tokens".
DEFAULT_MAX_LENGTH = 20


@dataclass(frozen=True)
class GenerationConfig:
    max_length: int = DEFAULT_MAX_LENGTH  # total length (prompt included) unless max_new_tokens is set
    max_new_tokens: int | None = None
    min_length: int = 0  # total length before eos is allowed
    min_new_tokens: int | None = None  # replaces min_length when set (transformers does the same)
    do_sample: bool = False
    num_beams: int = 1
    temperature: float = 1.0
    top_k: int | None = 50  # only used when sampling; 0 / None = off
    top_p: float = 1.0
    min_p: float | None = None  # sampling: drop tokens below min_p x the top token's probability
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    length_penalty: float = 1.0  # beam search: score = sum(logprobs) / generated_length ** length_penalty
    early_stopping: bool | str = False  # beam search: True | False | "never"
    num_return_sequences: int = 1
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | tuple[int, ...] | None = None
    # Whisper-style [(index, token), ...]: transformers 4.57 turns them into the decoder prompt
    # (decoder_start_token_id, then the tokens for indices 1, 2, ...); so does `decoder_prompt`.
    forced_decoder_ids: tuple[tuple[int, int], ...] | None = None
    suppress_tokens: tuple[int, ...] | None = None
    begin_suppress_tokens: tuple[int, ...] | None = None
    # stop once the text of the tokens so far holds one of these, overlapping the last token (transformers'
    # StopStringCriteria); the stop string stays in the output. Needs the tokenizer's token texts.
    stop_strings: tuple[str, ...] | None = None
    seed: int | None = None  # sampling: same seed, same tokens (NumPy's generator, not torch's)
    # Whether max_length was given at call time (update()): transformers then takes it literally; a
    # max_length of 20 that nobody chose means 20 new tokens. Not part of the saved config.
    max_length_given: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self):
        # JSON gives lists; keep the config hashable and immutable.
        for name in ("eos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))
        if isinstance(self.stop_strings, str):
            object.__setattr__(self, "stop_strings", (self.stop_strings,))
        elif isinstance(self.stop_strings, list):
            object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
        if isinstance(self.forced_decoder_ids, list):
            object.__setattr__(self, "forced_decoder_ids", tuple(tuple(p) for p in self.forced_decoder_ids))

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict | None) -> "GenerationConfig":
        """From a transformers generation_config.json dict; keys this runtime does not use are ignored."""
        known = {f.name for f in fields(cls)} - {"max_length_given"}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("max_length_given")
        return d

    def update(self, **kwargs) -> "GenerationConfig":
        """A checked copy with call-time options. None unsets an option that may be unset (as in
        transformers: forced_eos_token_id=None turns forced eos off, top_k=None turns top-k off) and
        keeps the current value of one that may not (num_beams=None)."""
        known = {f.name for f in fields(self)} - {"max_length_given"}
        unknown = sorted(k for k in kwargs if k not in known)
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise UsageError(f"Unknown generation option(s) {unknown}.{hint} Known: {', '.join(sorted(known))}.")
        nullable = {f.name for f in fields(self) if "None" in str(f.type)}
        values = {k: v for k, v in kwargs.items() if v is not None or k in nullable}
        if "max_length" in values:
            values["max_length_given"] = True
        cfg = replace(self, **values)
        cfg.validate()
        return cfg

    # -- checks ----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Every value checked with a message naming the option, the value and what is allowed."""
        for name in ("max_new_tokens", "min_new_tokens", "max_length", "min_length", "no_repeat_ngram_size", "top_k"):
            _check_int(name, getattr(self, name), minimum=0, optional=True)
        for name in ("num_beams", "num_return_sequences"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("seed", self.seed, minimum=0, optional=True)
        for name in ("bos_token_id", "pad_token_id", "decoder_start_token_id", "forced_bos_token_id"):
            _check_int(name, getattr(self, name), minimum=0, optional=True)
        for name in ("eos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens"):
            raw = getattr(self, name)
            for token in raw if isinstance(raw, (list, tuple)) else () if raw is None else (raw,):
                _check_int(name, token, minimum=0)
        if self.forced_decoder_ids is not None:
            for pair in self.forced_decoder_ids:
                if len(pair) != 2 or not isinstance(pair[0], numbers.Integral) or pair[0] < 1:
                    raise UsageError(f"forced_decoder_ids must be [(index >= 1, token id), ...], got {pair!r}.")
        if not isinstance(self.do_sample, bool):
            raise UsageError(f"do_sample must be true or false, got {self.do_sample!r}.")
        if self.do_sample and not (_is_number(self.temperature) and self.temperature > 0):
            raise UsageError(f"temperature must be > 0 when sampling, got {self.temperature!r}. "
                             "For greedy decoding set do_sample=False.")
        if not (_is_number(self.top_p) and 0 <= self.top_p <= 1):
            raise UsageError(f"top_p must be between 0 and 1, got {self.top_p!r}.")
        if self.min_p is not None and not (_is_number(self.min_p) and 0 <= self.min_p <= 1):
            raise UsageError(f"min_p must be between 0 and 1 (a fraction of the top token's probability), "
                             f"got {self.min_p!r}.")
        if self.stop_strings is not None:
            if not isinstance(self.stop_strings, tuple) or not self.stop_strings:
                got = list(self.stop_strings) if isinstance(self.stop_strings, tuple) else self.stop_strings
                raise UsageError(f"stop_strings must be a string or a non-empty list of strings, got {got!r}.")
            for text in self.stop_strings:
                if not isinstance(text, str) or not text:
                    raise UsageError(f"stop_strings must be non-empty strings, got {text!r} in "
                                     f"{list(self.stop_strings)!r}.")
        if not (_is_number(self.repetition_penalty) and self.repetition_penalty > 0):
            raise UsageError(f"repetition_penalty must be > 0 (1.0 = off), got {self.repetition_penalty!r}.")
        if not _is_number(self.length_penalty):
            raise UsageError(f"length_penalty must be a number, got {self.length_penalty!r}.")
        if self.early_stopping not in (True, False, "never"):
            raise UsageError(f"early_stopping must be true, false or \"never\", got {self.early_stopping!r}.")
        if self.num_return_sequences > 1:
            if self.num_beams == 1 and not self.do_sample:
                raise UsageError(f"Greedy decoding returns one sequence per input, got num_return_sequences="
                                 f"{self.num_return_sequences}. Use num_beams >= {self.num_return_sequences} or do_sample=True.")
            if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
                raise UsageError(f"num_return_sequences ({self.num_return_sequences}) must be <= num_beams "
                                 f"({self.num_beams}).")

    # -- derived values --------------------------------------------------------------------------
    @property
    def eos_ids(self) -> list[int]:
        return _as_ids(self.eos_token_id)

    def lengths(self, prompt_len: int) -> tuple[int, int]:
        """(max_length, min_length) in tokens including the prompt, resolved as transformers'
        `_prepare_generated_length` does: *_new_tokens win, an unchosen default max_length means 20 new."""
        if self.max_new_tokens is not None:
            max_length = prompt_len + self.max_new_tokens
        elif self.max_length == DEFAULT_MAX_LENGTH and not self.max_length_given:
            max_length = prompt_len + DEFAULT_MAX_LENGTH
        else:
            max_length = self.max_length
        min_length = prompt_len + self.min_new_tokens if self.min_new_tokens is not None else self.min_length
        return max_length, min_length

    def max_length_for(self, prompt_len: int) -> int:
        return self.lengths(prompt_len)[0]

    def decoder_prompt(self) -> list[int]:
        """Encoder-decoder: the decoder's first tokens — decoder_start_token_id, then forced_decoder_ids
        (indices 1, 2, ... without gaps, as transformers 4.57's Whisper requires)."""
        if self.decoder_start_token_id is None:
            raise UsageError("decoder_start_token_id is not set; pass it, or give the decoder prompt explicitly.")
        prompt = [self.decoder_start_token_id]
        for index, token in sorted(self.forced_decoder_ids or ()):
            if index != len(prompt) or token is None:
                raise UsageError(f"forced_decoder_ids {list(self.forced_decoder_ids or ())} must name a token for every "
                                 f"index 1, 2, ... without gaps; index {len(prompt)} is missing. Pass the decoder "
                                 "prompt explicitly instead.")
            prompt.append(int(token))
        return prompt


def _as_ids(value) -> list[int]:
    if value is None:
        return []
    return [int(value)] if isinstance(value, numbers.Integral) else [int(v) for v in value]


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_int(name: str, value, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise UsageError(f"{name} must be {kind}, got {value!r}.")
