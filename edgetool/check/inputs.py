"""User inputs for `edgetool validate --inputs` and `edgetool bench --inputs`: files -> pipeline calls.

Loaders are keyed by the task's `input_kind` (text | image | audio; see runtime/tasks.py): a text file
with one sample per line (or JSON Lines), a folder (or a single file) of images or WAVs. Each input
becomes a `Sample` shaped like the bundle's first golden sample, whose options (candidate labels,
choices, generation settings, top_k) are kept — so user inputs exercise the same code paths the
golden ones do. A task whose call signature is unusual registers an adapter in SAMPLE_ADAPTERS.

Runtime-side: NumPy, Pillow (decode) and the stdlib only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from edgetool.runtime.errors import UsageError
from edgetool.check.golden import Sample

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".wave"}

LOADERS: dict[str, Callable[[Path], list[tuple[str, Any]]]] = {}


def loader(kind: str):
    def register(fn):
        LOADERS[kind] = fn
        return fn
    return register


def _files(path: Path, suffixes: set[str], what: str) -> list[Path]:
    if not path.exists():
        raise UsageError(f"--inputs '{path}' does not exist. Give {what} (a folder, or one file).")
    if path.is_file():
        if path.suffix.lower() not in suffixes:
            raise UsageError(f"--inputs '{path}' is a '{path.suffix}' file; this task takes {what}.")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise UsageError(f"--inputs folder '{path}' holds no {what} ({', '.join(sorted(suffixes))}).")
    return files


@loader("text")
def load_text(path: Path) -> list[tuple[str, Any]]:
    """One sample per line. In a .jsonl file each line is JSON: a string, a list (batch), or an object —
    {"args": [...], "kwargs": {...}} for full control, else the object is the pipeline's keyword arguments
    (e.g. {"question": ..., "context": ...}) — or a text pair {"text": ..., "text_pair": ...} for classifiers."""
    if not path.exists():
        raise UsageError(f"--inputs '{path}' does not exist. Give a UTF-8 text file with one sample per line.")
    if path.is_dir():
        raise UsageError(f"--inputs '{path}' is a folder; this task takes text: give a text file, one sample per line.")
    data = path.read_bytes()
    if path.suffix.lower() in IMAGE_SUFFIXES | AUDIO_SUFFIXES or b"\x00" in data[:4096]:
        raise UsageError(f"--inputs '{path}' is binary (an image or audio file?); this task takes text, one sample per line.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"--inputs '{path}' is not UTF-8 text ({e}); re-save it as UTF-8.") from None
    jsonl = path.suffix.lower() == ".jsonl"
    items = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"--inputs {path} line {i} is not valid JSON ({e}).") from None
        else:
            value = line.strip()
        items.append((f"{path.name}:{i}", value))
    if not items:
        raise UsageError(f"--inputs '{path}' has no non-empty lines; put one sample per line.")
    return items


@loader("image")
def load_images(path: Path) -> list[tuple[str, Any]]:
    from edgetool.runtime.preprocess.image import load_image

    out = []
    for f in _files(path, IMAGE_SUFFIXES, "images (PNG, JPEG, BMP, WebP)"):
        try:
            out.append((str(f.name), load_image(f)))
        except UsageError as e:
            raise UsageError(f"--inputs image '{f}': {e}") from None
    return out


@loader("audio")
def load_audio_files(path: Path) -> list[tuple[str, Any]]:
    from edgetool.runtime.preprocess.audio import load_audio

    out = []
    for f in _files(path, AUDIO_SUFFIXES, "WAV files"):
        try:
            out.append((str(f.name), load_audio(f)))
        except UsageError as e:
            raise UsageError(f"--inputs audio '{f}': {e}") from None
    return out


# -- raw input -> pipeline call --------------------------------------------------------------------
def _default(x, template: Sample | None, bundle) -> Sample:
    """The input replaces the template's first positional argument; the template's options stay."""
    if isinstance(x, dict) and ("args" in x or "kwargs" in x):
        return Sample(list(x.get("args", [])), dict(x.get("kwargs", {})))
    kwargs = dict(template.kwargs) if template else {}
    if isinstance(x, dict) and not ({"text", "text_pair"} >= set(x)):  # keyword arguments
        return Sample([], {**kwargs, **x})
    args = list(template.args[1:]) if template and template.args else []
    return Sample([x, *args], kwargs)


def _question_answering(x, template: Sample | None, bundle) -> Sample:
    """A line 'question<TAB>context', a JSON object, or a context asked the template's question."""
    if isinstance(x, dict):
        return _default(x, template, bundle)
    kwargs = dict(template.kwargs) if template else {}
    if "\t" in x:
        q, c = x.split("\t", 1)
        kwargs.update(question=q.strip(), context=c.strip())
    else:
        kwargs.update(question=kwargs.get("question", "What is it about?"), context=x)
    return Sample([], kwargs)


def _fill_mask(x, template: Sample | None, bundle) -> Sample:
    """A line without the mask token gets its middle word masked: the pipeline needs a mask."""
    if isinstance(x, str):
        mask = bundle.processing.get("tokenizer", {}).get("mask_token") or "[MASK]"
        if mask not in x:
            words = x.split()
            words[len(words) // 2] = mask
            x = " ".join(words)
    return _default(x, template, bundle)


SAMPLE_ADAPTERS: dict[str, Callable] = {"question-answering": _question_answering, "fill-mask": _fill_mask}


def input_kind(spec) -> str:
    kind = spec.input_kind if spec.input_kind != "none" else spec.modality
    if kind not in LOADERS:
        raise UsageError(f"--inputs is not supported for task '{spec.name}' ({kind} input); supported input kinds: "
                         f"{', '.join(sorted(LOADERS))}.")
    return kind


def template_sample(templates: list[Sample] | None) -> Sample | None:
    """The first golden sample taking a single item (not a batch): user inputs follow its options."""
    templates = list(templates or [])
    for t in templates:
        if not t.args or not isinstance(t.args[0], list):
            return t
    return templates[0] if templates else None


def load_samples(bundle, path: Path, templates: list[Sample] | None = None, limit: int | None = None
                 ) -> tuple[list[Sample], list[str]]:
    """(samples, names) for the bundle's task from a user file or folder."""
    from edgetool.runtime.tasks import get_task

    spec = get_task(bundle.task)
    raw = LOADERS[input_kind(spec)](Path(path))
    if limit is not None:
        raw = raw[:limit]
    adapt = SAMPLE_ADAPTERS.get(spec.name, _default)
    template = template_sample(templates)
    return [adapt(x, template, bundle) for _, x in raw], [n for n, _ in raw]
