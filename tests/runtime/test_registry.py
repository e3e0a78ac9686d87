"""The task registry is the single table every part reads."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.runtime.tasks import REGISTRY, all_tasks, get_task

MISSION = {
    "text-classification", "token-classification", "question-answering", "fill-mask", "feature-extraction",
    "zero-shot-classification", "multiple-choice", "text-generation", "summarization", "translation",
    "image-classification", "object-detection", "image-segmentation", "depth-estimation", "image-to-text",
    "audio-classification", "automatic-speech-recognition",
}


def test_every_mission_task_is_registered():
    assert MISSION <= set(REGISTRY)


@pytest.mark.parametrize("alias,name", [("classify", "text-classification"), ("ner", "token-classification"),
                                        ("qa", "question-answering"), ("detect", "object-detection"),
                                        ("segment", "image-segmentation"), ("depth", "depth-estimation"),
                                        ("asr", "automatic-speech-recognition"), ("generate", "text-generation"),
                                        ("Text-Classification", "text-classification")])
def test_aliases(alias, name):
    assert get_task(alias).name == name


def test_unknown_task_suggests():
    with pytest.raises(UsageError, match="Did you mean 'detect'"):
        get_task("detct")


def test_aliases_are_unique():
    seen = {}
    for spec in all_tasks():
        for a in (spec.name, *spec.aliases):
            assert a not in seen, f"alias {a} used by {seen[a]} and {spec.name}"
            seen[a] = spec.name


def test_implemented_tasks_have_pipeline_and_recipe():
    from edgetool.export.families import exportable_tasks
    from edgetool.runtime.pipelines import pipeline_class

    exportable = set(exportable_tasks())
    for spec in all_tasks():
        if spec.implemented:
            assert spec.name in exportable, f"{spec.name} has a pipeline but no export recipe"
            pipeline_class(spec)
        else:
            with pytest.raises(UnsupportedError, match="not implemented yet"):
                pipeline_class(spec)


def test_every_implemented_task_has_an_end_to_end_test():
    """Adding a task to the registry without an e2e parity test fails here."""
    e2e = Path(__file__).parents[1] / "e2e"
    text = "\n".join(p.read_text() for p in e2e.glob("test_*.py"))
    missing = [s.name for s in all_tasks() if s.implemented and not re.search(rf"['\"]{re.escape(s.name)}['\"]", text)]
    assert not missing, f"tasks without an end-to-end test in tests/e2e: {missing}"


def test_export_of_unimplemented_task_says_so(monkeypatch):
    """A task registered before its recipe exists: export names it and points at `edgetool tasks`."""
    from edgetool.export.families import families_for
    from edgetool.runtime import tasks
    from edgetool.runtime.registry import Registry

    spec = tasks.TaskSpec("video-classification", ("classify-video",), "video", "Label a video clip.")
    extended = Registry("task", normalize=lambda k: str(k or "").strip().lower())
    for t in tasks.all_tasks():
        extended.add(t.name, t, t.aliases)
    extended.add(spec.name, spec, spec.aliases)
    monkeypatch.setattr(tasks, "TASKS", extended)
    assert not spec.implemented
    with pytest.raises(UnsupportedError, match="'video-classification' is not implemented yet.*edgetool tasks"):
        families_for("video-classification")
