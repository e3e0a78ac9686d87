"""The export family registry: one adapter per (task, family), reference models declared on it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgetool.export.families import (ANY, FAMILIES, adapter_for, all_adapters, default_reference, exportable_tasks,
                                      families_for, family_keys, get_adapter)
from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.runtime.tasks import all_tasks

ADAPTERS = [pytest.param(a, id=f"{a.task}/{a.family}") for a in all_adapters()]
REFERENCES = [pytest.param(a, r.name, id=r.name) for a in all_adapters() for r in a.references]


def test_listing_families_imports_no_family_module():
    """Keys are lazy "module:attr" entries: listing them loads no adapter module (nor torch)."""
    code = ("import sys; from edgetool.export.families import family_keys; keys = family_keys(); "
            "print(len(keys), any(m.startswith('edgetool.export.families.') for m in sys.modules), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(family_keys())), "False", "False"]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_adapter_is_registered_under_its_own_key(adapter):
    assert (adapter.task, adapter.family) in family_keys()
    assert FAMILIES.get((adapter.task, adapter.family)) is adapter
    assert adapter.references, "every family declares at least one reference model"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_auto_class_is_a_transformers_class(adapter):
    import transformers

    assert isinstance(adapter.auto_class, str)
    assert adapter.auto_class.startswith("Auto") and hasattr(transformers, adapter.auto_class)


def test_no_two_families_of_a_task_claim_a_model_type():
    for task in exportable_tasks():
        claimed: dict[str, str] = {}
        generic = [a.family for a in families_for(task) if a.model_types is ANY]
        assert len(generic) <= 1, f"{task}: several generic families {generic}"
        for a in families_for(task):
            if a.model_types is ANY:
                continue
            assert a.model_types, f"{task}/{a.family} accepts no model type"
            for m in a.model_types:
                assert m not in claimed, f"{task}: model type {m} claimed by {claimed[m]} and {a.family}"
                claimed[m] = a.family


def test_every_implemented_task_has_a_family():
    assert set(exportable_tasks()) == {t.name for t in all_tasks() if t.implemented}


def test_family_names_and_model_types():
    """The names the manifest's "family" carries (the runtime heads are keyed the same way)."""
    table = {(a.task, a.family): (a.model_types if a.model_types is ANY else tuple(a.model_types))
             for a in all_adapters()}
    assert table[("object-detection", "yolo")] == ("edgetool-yolo",)
    assert table[("object-detection", "detr")] == ("detr",)
    assert table[("image-segmentation", "segformer")] == ("segformer",)
    assert table[("image-segmentation", "maskformer")] == ("maskformer",)
    assert table[("depth-estimation", "depth-anything")] == ("depth_anything",)
    assert table[("automatic-speech-recognition", "whisper")] == ("whisper",)
    assert set(table[("automatic-speech-recognition", "ctc")]) == {"wav2vec2", "hubert", "wavlm", "data2vec-audio"}
    from edgetool.export.families.generation import DECODER_TYPES

    assert table[("text-generation", "decoder")] == tuple(t.model_type for t in DECODER_TYPES)
    assert {"gpt2", "llama", "qwen3", "mistral", "gemma2", "falcon"} <= set(table[("text-generation", "decoder")])
    for task in ("summarization", "translation", "text2text-generation"):
        assert table[(task, "seq2seq")] is ANY


@pytest.mark.parametrize("adapter,name", REFERENCES)
def test_reference_builds_a_checkpoint_the_adapter_accepts(adapter, name, reference_dir):
    config = json.loads((reference_dir(name) / "config.json").read_text())
    assert adapter.accepts(config["model_type"])
    assert adapter_for(adapter.task, config["model_type"]) is adapter


def test_default_references_are_unchanged():
    assert {t: default_reference(t) for t in exportable_tasks()} == {
        "text-classification": "bert-tiny-classifier", "token-classification": "bert-tiny-ner",
        "question-answering": "bert-tiny-qa", "fill-mask": "bert-tiny-mlm", "feature-extraction": "bert-tiny-encoder",
        "zero-shot-classification": "bert-tiny-nli", "multiple-choice": "bert-tiny-choice",
        "text-generation": "gpt2-tiny", "summarization": "bart-tiny", "translation": "t5-tiny",
        "text2text-generation": "bart-tiny-text2text", "image-classification": "vit-tiny-classifier",
        "image-to-text": "vit-gpt2-tiny", "object-detection": "yolo-tiny", "image-segmentation": "segformer-tiny",
        "depth-estimation": "glpn-tiny", "audio-classification": "wav2vec2-tiny-classifier",
        "automatic-speech-recognition": "wav2vec2-tiny-ctc"}


def test_adapter_for_picks_by_model_type_and_aliases_work():
    assert adapter_for("asr", "whisper").family == "whisper"
    assert adapter_for("automatic-speech-recognition", "hubert").family == "ctc"
    assert adapter_for("detect", "edgetool-yolo").family == "yolo"
    assert adapter_for("depth", "depth_anything").family == "depth-anything"
    assert adapter_for("classify", "distilbert").family == "encoder"  # generic: any model type

    class Config:
        model_type = "maskformer"
    assert adapter_for("image-segmentation", Config()).family == "maskformer"


def test_unknown_model_type_is_a_clear_error():
    with pytest.raises(UsageError) as e:
        adapter_for("object-detection", "owlvit")
    msg = str(e.value)
    for part in ("object-detection", "'owlvit'", "yolo (edgetool-yolo)", "detr (detr)"):
        assert part in msg


def test_get_adapter_unknown_family_suggests():
    assert get_adapter("detect", "detr").task == "object-detection"
    with pytest.raises(UsageError, match="no family 'dter'.*Did you mean 'detr'"):
        get_adapter("object-detection", "dter")


def test_unknown_reference_model_suggests():
    from edgetool.export.reference import get_reference

    assert get_reference("detr-tiny").family == "detr"
    with pytest.raises(UsageError, match="Unknown reference model 'detr-tiy'.*Did you mean 'detr-tiny'"):
        get_reference("detr-tiy")


def test_unknown_task_still_names_the_task():
    with pytest.raises(UsageError, match="Unknown task 'detct'. Did you mean 'detect'"):
        families_for("detct")
    assert isinstance(UnsupportedError("x"), Exception)


@pytest.mark.parametrize("task,family", [("text-classification", "encoder"), ("object-detection", "yolo")])
def test_manifest_names_the_family(bundle_dir, task, family):
    manifest = json.loads((bundle_dir(task) / "edgetool.json").read_text())
    assert manifest["family"] == family
    # the family is named once, at the top: no processing key spells it again
    assert not {"detector", "segmenter", "whisper"} & set(manifest["processing"])


def test_every_export_family_has_a_runtime_head():
    from edgetool.export.families import family_keys
    from edgetool.runtime.heads import HEADS

    pairs = set(family_keys())
    missing = sorted(p for p in pairs if p not in HEADS)
    assert not missing, f"export families with no runtime head: {missing}"
    assert len(pairs) >= 20


def test_exporting_a_checkpoint_of_another_family_is_a_usage_error(tmp_path, reference_dir):
    import shutil

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions

    ckpt = tmp_path / "vit"
    shutil.copytree(reference_dir("vit-tiny-classifier"), ckpt)
    with pytest.raises(UsageError, match="object-detection.*'vit'.*yolo"):
        export(ExportOptions(task="object-detection", model=ckpt, out=tmp_path / "b", quiet=True))
    assert not (tmp_path / "b").exists()
