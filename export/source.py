"""Where a model comes from: a built-in reference or a user's local Hugging Face checkpoint directory."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetool.runtime.errors import UsageError


@dataclass
class Source:
    path: Path  # the checkpoint directory (reference models are saved as checkpoints too)
    model: Any  # torch.nn.Module in eval mode
    config: Any  # transformers PretrainedConfig
    origin: str  # "reference:<name>" or the directory given by the user
    sha256: str  # hash of config + weights, for provenance

    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.path), local_files_only=True, use_fast=True)


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def check_checkpoint_dir(path: Path) -> None:
    """A clear error for every way a local checkpoint directory can be unusable."""
    if not path.exists():
        raise UsageError(f"--model '{path}' does not exist. Pass a local Hugging Face checkpoint directory "
                         "(config.json + model.safetensors + tokenizer files).")
    if not path.is_dir():
        raise UsageError(f"--model '{path}' is a file; pass the checkpoint *directory* that holds config.json.")
    if not (path / "config.json").is_file():
        raise UsageError(f"--model '{path}' has no config.json: it is not a Hugging Face checkpoint directory.")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        if (path / "pytorch_model.bin").is_file():
            raise UsageError(
                f"--model '{path}' has only pytorch_model.bin (a pickle, which edgetool does not load). Convert it: "
                "`AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`."
            )
        raise UsageError(f"--model '{path}' has no model.safetensors; save the model with safe_serialization=True.")


def checkpoint_hash(path: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", *WEIGHT_FILES):
        f = path / name
        if f.is_file():
            with open(f, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
    for shard in sorted(path.glob("model-*.safetensors")):
        h.update(shard.read_bytes())
    return h.hexdigest()


def load_source(auto_class, model_dir: Path | None, reference_name: str,
                attn_implementation: str | None = "eager") -> Source:
    """Load the torch model: from `model_dir` if given, else build/reuse the named reference."""
    import transformers

    from .reference import checkpoint_dir

    if model_dir is None:
        path, origin = checkpoint_dir(reference_name), f"reference:{reference_name}"
    else:
        path, origin = Path(model_dir), str(model_dir)
        check_checkpoint_dir(path)
    if callable(auto_class):  # one task, several architecture families (e.g. CTC and Whisper for ASR)
        auto_class = auto_class(transformers.AutoConfig.from_pretrained(str(path), local_files_only=True))
    cls = getattr(transformers, auto_class)
    try:
        model = cls.from_pretrained(str(path), local_files_only=True, use_safetensors=True,
                                    trust_remote_code=False,
                                    **({"attn_implementation": attn_implementation} if attn_implementation else {}))
    except ValueError as e:  # e.g. a config whose architecture does not fit the task's head
        raise UsageError(f"Cannot load '{path}' as {auto_class}: {e}".split("\n")[0]) from None
    model.eval()
    return Source(path, model, model.config, origin, checkpoint_hash(path))
