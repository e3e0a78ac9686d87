"""Question-answering spans and token-classification entities against transformers 4.57 (golden, no torch).

tests/golden_data/spans.json / spans.npz:
- `select`: transformers' select_starts_ends on fixed start/end logits, p_mask and attention masks
  (top_k, max_answer_len, handle_impossible_answer);
- `qa` and `token_classification`: transformers' QuestionAnsweringPipeline and
  TokenClassificationPipeline (every aggregation strategy, ignore_labels, stride windows over a text
  longer than the model) on the golden tokenizers, with a stand-in network whose logits are a table
  lookup per token id (golden_support.token_table_engine computes the same for edgetool's pipelines).
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import GOLDEN, golden_arrays, golden_json, golden_pipeline, token_table_engine

from edgetool.runtime.postprocess.spans import decode_spans, span_probabilities

DOC = golden_json("spans")
TEXT = golden_json("text")
SCORE_RTOL = 1e-6


def _tables(variant: str) -> dict[str, np.ndarray]:
    arrays = golden_arrays("spans")
    return {name: arrays[key] for name, key in DOC["tables"][variant].items()}


def _files(variant: str) -> dict:
    return {"tokenizer.json": GOLDEN / TEXT["tokenizers"][variant]["file"]}


def _processing(variant: str) -> dict:
    return {"tokenizer": TEXT["tokenizers"][variant]["settings"]}


@pytest.mark.parametrize("case", DOC["select"], ids=lambda c: f"{c['key']}-{c['options']}")
def test_span_selection_matches_select_starts_ends(case):
    arrays, opts = golden_arrays("spans"), case["options"]
    a = {k: arrays[f"{case['key']}/{k}"] for k in ("start", "end", "p_mask", "attention_mask")}
    start, end, desired, null = span_probabilities(a["start"], a["end"], a["p_mask"], a["attention_mask"])
    starts, ends, scores = decode_spans(start, end, opts.get("top_k", 1), opts.get("max_answer_len", 15), desired)
    assert starts.tolist() == case["starts"] and ends.tolist() == case["ends"]
    np.testing.assert_allclose(scores, case["scores"], rtol=SCORE_RTOL, atol=0)
    if opts.get("handle_impossible_answer"):
        assert null == pytest.approx(case["min_null_score"], rel=SCORE_RTOL)


def _same_answers(ours, ref):
    ours, ref = (x if isinstance(x, list) else [x] for x in (ours, ref))
    assert [(a["answer"], a["start"], a["end"]) for a in ours] == [(a["answer"], a["start"], a["end"]) for a in ref]
    np.testing.assert_allclose([a["score"] for a in ours], [a["score"] for a in ref], rtol=SCORE_RTOL, atol=1e-12)


@pytest.mark.parametrize("case", DOC["qa"], ids=lambda c: f"{c['tokenizer']}-{c['question']}-{c['options']}")
def test_question_answering_matches_transformers(case):
    variant = case["tokenizer"]
    tables = _tables(variant)
    engine = token_table_engine({"start_logits": tables["qa_start"], "end_logits": tables["qa_end"]})
    qa = golden_pipeline("question-answering", "encoder", _processing(variant), engine, files=_files(variant))
    ours = qa(question=case["question"], context=case["context"], **case["options"])
    assert isinstance(ours, list) == isinstance(case["result"], list)
    _same_answers(ours, case["result"])


def _entity_key(e: dict) -> tuple:
    return tuple(e.get(k) for k in ("entity", "entity_group", "word", "start", "end", "index"))


@pytest.mark.parametrize("case", DOC["token_classification"],
                         ids=lambda c: f"{c['tokenizer']}-{c['text'][:20]}-{'-'.join(map(str, c['options'].values()))}")
def test_token_classification_matches_transformers(case):
    variant = case["tokenizer"]
    engine = token_table_engine({"logits": _tables(variant)["ner"]})
    id2label = dict(enumerate(DOC["labels"]))
    ner = golden_pipeline("token-classification", "encoder", _processing(variant), engine, id2label=id2label, files=_files(variant))
    ours = ner(case["text"], **case["options"])
    ref = case["result"]
    assert [sorted(e) for e in ours] == [sorted(e) for e in ref]
    assert [_entity_key(e) for e in ours] == [_entity_key(e) for e in ref]
    np.testing.assert_allclose([e["score"] for e in ours], [e["score"] for e in ref], rtol=SCORE_RTOL, atol=0)
