"""Where a model comes from: a built-in reference or a user's local Hugging Face checkpoint directory."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetool.runtime.errors import UnsupportedError, UsageError


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


def source_path(model_dir: Path | None, reference_name: str | None) -> tuple[Path, str]:
    """(checkpoint directory, origin) of a user's directory or a built-in reference."""
    if model_dir is None:
        from .reference import checkpoint_dir

        return checkpoint_dir(reference_name), f"reference:{reference_name}"
    path = Path(model_dir)
    check_checkpoint_dir(path)
    return path, str(model_dir)


def check_remote_code(path: Path) -> None:
    """A checkpoint whose model type exists only as its own Python code (config.json "auto_map", loaded
    with trust_remote_code=True) is refused: edgetool never runs code from a checkpoint. One whose model
    type transformers has built in loads with that built-in class (the auto_map is not used)."""
    import json

    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"Cannot read '{path / 'config.json'}': {e}".split("\n")[0]) from None
    model_type = cfg.get("model_type") if isinstance(cfg, dict) else None
    if isinstance(cfg, dict) and cfg.get("auto_map") and model_type not in CONFIG_MAPPING:
        raise UnsupportedError(
            f"--model '{path}' needs its own Python code (model type {model_type!r}, config.json auto_map: "
            f"{', '.join(sorted(cfg['auto_map']))}), i.e. trust_remote_code, which edgetool never runs. Use a "
            "checkpoint of a model type transformers has built in (`edgetool tasks` lists the families).")


def read_config(path: Path):
    """The checkpoint's transformers config (no weights), to pick its family before loading the model."""
    import transformers

    check_remote_code(path)
    try:
        return transformers.AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (ValueError, KeyError) as e:  # e.g. a model_type this transformers does not know
        raise UsageError(f"Cannot read the config of '{path}': {e}".split("\n")[0]) from None


def _architecture(path: Path) -> str | None:
    try:
        archs = json.loads((path / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return None
    return archs[0] if archs and isinstance(archs[0], str) else None


def load_source(adapter, path: Path, origin: str) -> Source:
    """Load the torch model of checkpoint `path` with the family adapter's Auto class."""
    import transformers

    from .compat import attn_implementation

    cls = getattr(transformers, adapter.auto_class)
    config = read_config(path)
    arch = _architecture(path)
    if arch in adapter.architectures:  # as transformers' pipeline does: the checkpoint's own head class
        cls = getattr(transformers, arch)
    attn = attn_implementation(adapter.attention_for(config.model_type), config)
    try:
        model = cls.from_pretrained(str(path), local_files_only=True, use_safetensors=True,
                                    trust_remote_code=False, **({"attn_implementation": attn} if attn else {}))
    except ValueError as e:  # e.g. a config whose architecture does not fit the task's head
        raise UsageError(f"Cannot load '{path}' as {adapter.auto_class}: {e}".split("\n")[0]) from None
    model.eval()
    return Source(path, model, model.config, origin, checkpoint_hash(path))
