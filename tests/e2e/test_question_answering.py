"""question-answering (extractive) vs the transformers pipeline on the same weights, on ONNX Runtime
and OpenVINO: top_k, doc_stride windows, max_answer_len, impossible answers, lists of questions."""
from __future__ import annotations

import json

import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

TASK = "question-answering"
CTX = "Berlin is the capital of Germany. The museum in Paris was wonderful. John Smith wrote the book in the old library."
LONG = " ".join([CTX] * 15)  # several doc_stride windows
CASES = [dict(question="Who wrote the book?", context=CTX),
         dict(question="Who wrote the book?", context=CTX, top_k=4),
         dict(question=["Where?", "What is the capital?"], context=CTX),
         dict(question=["Where?", "Who?"], context=[CTX, "The quick brown fox jumps over the lazy dog."]),
         dict(question="Who wrote the book?", context=LONG, top_k=2),
         dict(question="Who?", context=CTX, handle_impossible_answer=True, top_k=3),
         dict(question="Who?", context=CTX, max_answer_len=3, top_k=5),
         dict(question="Who?", context=LONG, doc_stride=32, align_to_words=False, top_k=3),
         dict(question="What is the capital of the country where the museum that was wonderful is?", context="Paris.")]


def _strip(x):
    return [_strip(i) for i in x] if isinstance(x, list) else {k: v for k, v in x.items() if k != "score"}


def _scores(x):
    return [s for i in x for s in _scores(i)] if isinstance(x, list) else [x["score"]]


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return hf_pipeline(TASK, model=str(reference_dir("bert-tiny-qa")))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_matches_transformers_pipeline(bundle_dir, hf, backend):
    ours = pipeline(bundle_dir(TASK, target="openvino"), backend=backend)
    for kw in CASES:
        a, b = ours(**kw), hf(**kw)
        assert _strip(a) == _strip(b), kw
        assert max(abs(u - v) for u, v in zip(_scores(a), _scores(b))) < 1e-5
        for ans in a if isinstance(a, list) else [a]:
            if isinstance(ans, dict):
                ctx = kw["context"] if isinstance(kw["context"], str) else None
                if ctx:
                    assert ctx[ans["start"]:ans["end"]] == ans["answer"]


def test_bad_inputs_and_huge_context(bundle_dir):
    qa = pipeline(bundle_dir(TASK))
    with pytest.raises(UsageError, match="both a question and a context"):
        qa(question="Who?")
    with pytest.raises(UsageError, match="empty"):
        qa(question="  ", context=CTX)
    with pytest.raises(UsageError, match="one context per question"):
        qa(question=["a", "b"], context=[CTX])
    with pytest.raises(UsageError, match="top_k"):
        qa(question="Who?", context=CTX, top_k=0)
    huge = qa(question="Who wrote the book?", context=CTX * 900)  # ~100k characters, many windows
    assert huge["answer"] and huge["end"] <= len(CTX * 900)


def test_cli_question_context(bundle_dir):
    from click.testing import CliRunner

    from edgetool.cli import cli

    r = CliRunner().invoke(cli, ["run", str(bundle_dir(TASK)), "--question", "Who wrote the book?", "--context", CTX,
                                 "--top-k", "2", "--json"])
    assert r.exit_code == 0, r.output
    answers = json.loads(r.output)
    assert len(answers) == 2 and all(CTX[a["start"]:a["end"]] == a["answer"] for a in answers)
