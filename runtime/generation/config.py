"""Generation settings, read from a model's generation_config.json and overridden per call."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..errors import UsageError


@dataclass(frozen=True)
class GenerationConfig:
    max_length: int = 20
    max_new_tokens: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    do_sample: bool = False
    num_beams: int = 1
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1
    bos_token_id: int | None = None
    eos_token_id: int | list | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None
    suppress_tokens: tuple | None = None
    begin_suppress_tokens: tuple | None = None
    seed: int | None = None

    @classmethod
    def from_dict(cls, d: dict | None) -> "GenerationConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)

    def update(self, **kwargs) -> "GenerationConfig":
        """A copy with call-time options; unknown or invalid values are clear errors."""
        known = {f.name for f in fields(self)}
        unknown = sorted(k for k in kwargs if k not in known)
        if unknown:
            raise UsageError(f"Unknown generation option(s) {unknown}. Known: {', '.join(sorted(known))}.")
        cfg = replace(self, **{k: v for k, v in kwargs.items() if v is not None})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("max_new_tokens", "min_new_tokens", "max_length", "min_length", "no_repeat_ngram_size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise UsageError(f"{name} must be a non-negative integer, got {v!r}.")
        if not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise UsageError(f"num_beams must be a positive integer, got {self.num_beams!r}.")
        if self.num_return_sequences > self.num_beams and not self.do_sample:
            raise UsageError(f"num_return_sequences ({self.num_return_sequences}) must be <= num_beams ({self.num_beams}).")
        if self.do_sample and self.temperature <= 0:
            raise UsageError(f"temperature must be > 0 when sampling, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.repetition_penalty <= 0:
            raise UsageError(f"repetition_penalty must be > 0, got {self.repetition_penalty}.")

    @property
    def eos_ids(self) -> list[int]:
        e = self.eos_token_id
        return [] if e is None else [e] if isinstance(e, int) else list(e)

    def max_length_for(self, prompt_len: int) -> int:
        return prompt_len + self.max_new_tokens if self.max_new_tokens is not None else self.max_length
