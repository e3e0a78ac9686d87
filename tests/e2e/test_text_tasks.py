"""The text-encoder tasks end to end — NER, extractive QA, fill-mask, embeddings, zero-shot, multiple
choice: reference model (or a checkpoint the test saves) -> ONNX -> ONNX Runtime and OpenVINO bundles
-> NumPy runtime, compared with the oracle on the same weights and tokenizer:

- transformers 4.57 `pipeline(task)` for token-classification, question-answering, fill-mask,
  zero-shot-classification and feature-extraction token embeddings;
- sentence-transformers `SentenceTransformer(dir).encode` for sentence embeddings;
- PyTorch logits of AutoModelForMultipleChoice for multiple-choice (transformers has no pipeline).

Results must be identical (labels, spans, tokens, words, offsets) with scores within 1e-5.
Bundles are exported once per session (tests/conftest.py) with target openvino: they hold the ONNX
graph too, so one export serves both backends."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

BACKENDS = ["onnxruntime", "openvino"]
TASKS = ["token-classification", "question-answering", "fill-mask", "feature-extraction", "zero-shot-classification",
         "multiple-choice"]
REFERENCES = {"token-classification": ["bert-tiny-ner", "roberta-tiny-ner"], "question-answering": ["bert-tiny-qa"],
              "fill-mask": ["bert-tiny-mlm", "roberta-tiny-mlm"], "feature-extraction": ["bert-tiny-encoder"],
              "zero-shot-classification": ["bert-tiny-nli"], "multiple-choice": ["bert-tiny-choice"]}
TOL = 1e-5

NER_TEXTS = ["Barack Obama was born in Hawaii.",
             "Apple announced a new product in California, said John Smith of Microsoft's team!",
             "  Angela   Merkel met Google in Berlin  ",
             "Émile Zoë went to Zürich — café ünïcödé 日本語 ok.",
             "Tokenizers split text into word pieces extraordinarily unbelievably."]
NER_LONG = " ".join(NER_TEXTS[:3] * 12)  # ~400 tokens: several 128-token windows
QA_CTX = "Berlin is the capital of Germany. The museum in Paris was wonderful. John Smith wrote the book in the old library."
QA_UNICODE = "Émile Zoë   went to Zürich —  café, 42,000 dollars (really?!) and   met Obama's friend.\nNew line here."
QA_LONG = " ".join([QA_CTX] * 15)


# -- comparison helpers ------------------------------------------------------------------------------
def _strip(x):
    """The result without its float scores (compared separately, with a tolerance)."""
    if isinstance(x, list):
        return [_strip(i) for i in x]
    return {k: v for k, v in x.items() if k not in ("score", "scores")}


def _scores(x) -> list[float]:
    if isinstance(x, list):
        return [s for i in x for s in _scores(i)]
    return [float(x["score"])] if "score" in x else [float(s) for s in x.get("scores", [])]


def assert_same(ours, theirs, what=""):
    assert _strip(ours) == _strip(theirs), what
    a, b = _scores(ours), _scores(theirs)
    assert len(a) == len(b), what
    assert max([abs(u - v) for u, v in zip(a, b)] or [0.0]) <= TOL, what


@pytest.fixture(scope="module")
def oracle(reference_dir):
    """oracle(task, reference) -> the transformers pipeline on the reference checkpoint (cached)."""
    from transformers import pipeline as hf_pipeline

    cache = {}

    def get(task, ref):
        if (task, ref) not in cache:
            cache[task, ref] = hf_pipeline(task, model=str(reference_dir(ref)))
        return cache[task, ref]

    return get


# -- per-task parity vs the oracle -------------------------------------------------------------------
def check_token_classification(bundle_dir, oracle, reference_dir, backend):
    for ref in REFERENCES["token-classification"]:  # WordPiece '##' and byte-level BPE 'Ġ' sub-words
        ours, hf = pipeline(bundle_dir("token-classification", reference=ref, target="openvino"), backend=backend), \
            oracle("token-classification", ref)
        for strategy in ("none", "simple", "first", "average", "max"):
            assert_same(ours(NER_TEXTS, aggregation_strategy=strategy), hf(NER_TEXTS, aggregation_strategy=strategy),
                        (ref, strategy))
        for ignore in (["O", "B-PER"], []):
            assert_same(ours(NER_TEXTS[1], ignore_labels=ignore), hf(NER_TEXTS[1], ignore_labels=ignore), ignore)
        for strategy, stride in (("simple", 16), ("first", 0), ("max", 50), ("none", 16)):  # transformers' windows
            kw = {"stride": stride} if strategy == "none" else {"stride": stride, "aggregation_strategy": strategy}
            got = ours(NER_LONG, **kw)
            assert_same(got, hf(NER_LONG, **kw), (ref, strategy, stride))
            assert max(e["end"] for e in got) > len(NER_LONG) * 0.95  # the tail is covered, not truncated
        for e in ours(NER_TEXTS[3], aggregation_strategy="simple"):  # offsets index the original text
            assert 0 <= e["start"] <= e["end"] <= len(NER_TEXTS[3])


QA_CASES = [dict(question="Who wrote the book?", context=QA_CTX),
            dict(question="Who wrote the book?", context=QA_CTX, top_k=4),
            dict(question=["Where?", "What is the capital?"], context=QA_CTX),
            dict(question=["Where?", "Who?"], context=[QA_CTX, "The quick brown fox jumps over the lazy dog."]),
            dict(question="Who wrote the book?", context=QA_LONG, top_k=2),
            dict(question="Who?", context=QA_CTX, handle_impossible_answer=True, top_k=3),
            dict(question="x", context="y", handle_impossible_answer=True),
            dict(question="Who?", context=QA_CTX, max_answer_len=3, top_k=5),
            dict(question="Who?", context=QA_LONG, doc_stride=32, align_to_words=False, top_k=3),
            dict(question="Who?", context=QA_CTX, max_seq_len=30, doc_stride=5, top_k=3),
            dict(question="Where did he go?", context=QA_UNICODE, top_k=10),
            # a context shorter than the question
            dict(question="What is the capital of the country where the museum that was wonderful is?", context="Paris."),
            dict(question="Who wrote the book? " * 10, context="Paris.", top_k=3)]


def check_question_answering(bundle_dir, oracle, reference_dir, backend):
    ours, hf = pipeline(bundle_dir("question-answering", target="openvino"), backend=backend), \
        oracle("question-answering", "bert-tiny-qa")
    for kw in QA_CASES:
        got = ours(**kw)
        assert_same(got, hf(**kw), kw)
        contexts = kw["context"] if isinstance(kw["context"], list) else [kw["context"]] * 2
        for ans, ctx in zip(got if isinstance(got, list) else [got], contexts):
            for a in ans if isinstance(ans, list) else [ans]:
                assert ctx[a["start"]:a["end"]] == a["answer"]  # char spans of the original context


def check_fill_mask(bundle_dir, oracle, reference_dir, backend):
    for ref in REFERENCES["fill-mask"]:
        ours, hf = pipeline(bundle_dir("fill-mask", reference=ref, target="openvino"), backend=backend), \
            oracle("fill-mask", ref)
        m = hf.tokenizer.mask_token
        cases = [(f"The capital of France is {m}.", {}), (f"I {m} this, it was {m}.", {"top_k": 3}),
                 (f"{m} {m} {m}", {"top_k": 2}), ([f"What a {m} day", f"Who {m} it?"], {}),
                 (f"Émile went to Zürich, {m}'s café.", {"top_k": 10}),
                 (f"The weather was {m}.", {"targets": ["good", "calm", "zzzq", " movie"]}),
                 (f"The {m} was {m}", {"targets": "calm", "top_k": 3})]
        for args, kw in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert_same(ours(args, **kw), hf(args, **kw), (ref, args, kw))


def check_feature_extraction(bundle_dir, oracle, reference_dir, backend):
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    path = reference_dir("bert-tiny-encoder")
    ours, hf = pipeline(bundle_dir("feature-extraction", target="openvino"), backend=backend), \
        oracle("feature-extraction", "bert-tiny-encoder")
    texts = ["I love this", "The quick brown fox jumps over the lazy dog.", "Who wrote the book? " * 40]
    for t in texts[:2]:  # token embeddings, [1][tokens][hidden] like the pipeline
        a, b = np.asarray(ours(t)), np.asarray(hf(t))
        assert a.shape == b.shape and np.abs(a - b).max() <= TOL
    many = ours(texts[:2])
    assert [np.asarray(x).shape for x in many] == [np.asarray(hf(t)).shape for t in texts[:2]]
    # sentence embeddings with the checkpoint's declared pooling (mean) + Normalize, truncated at max_seq_length 64
    ref = SentenceTransformer(str(path), device="cpu").encode(texts)
    got = ours.sentence_embeddings(texts)
    assert np.abs(got - ref).max() <= TOL
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.abs(np.asarray(ours(texts, normalize=True)) - ref).max() <= TOL
    # every pooling mode vs the same computation in torch
    tok, model = AutoTokenizer.from_pretrained(str(path)), AutoModel.from_pretrained(str(path)).eval()
    enc = tok(texts[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    expected = {"mean": (h * m).sum(1) / m.sum(1), "cls": h[:, 0], "max": h.masked_fill(m == 0, -1e9).max(1).values}
    for mode, want in expected.items():
        got = ours.sentence_embeddings(texts[:2], pooling=mode, normalize=False)
        assert np.abs(got - want.numpy()).max() <= TOL, mode


def check_zero_shot_classification(bundle_dir, oracle, reference_dir, backend):
    ours, hf = pipeline(bundle_dir("zero-shot-classification", target="openvino"), backend=backend), \
        oracle("zero-shot-classification", "bert-tiny-nli")
    cases = [("The election was strange.", dict(candidate_labels=["politics", "sports", "food", "travel"])),
             (["The soup was delicious", "Our team won"], dict(candidate_labels="food, sports", multi_label=True)),
             ("The soup was delicious", dict(candidate_labels=["food"])),
             ("I love this", dict(candidate_labels=["happy", "sad"], hypothesis_template="The mood is {}."))]
    for text, kw in cases:
        assert_same(ours(text, **kw), hf(text, **kw), kw)


def check_multiple_choice(bundle_dir, oracle, reference_dir, backend):
    import torch
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    path = str(reference_dir("bert-tiny-choice"))
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForMultipleChoice.from_pretrained(path).eval()
    ours = pipeline(bundle_dir("multiple-choice", target="openvino"), backend=backend)
    for prompt, choices in [("The weather was", ["calm", "very crowded and noisy", "bad", "perfect"]),
                            ("Who wrote the book?", ["John Smith", "the children"])]:
        enc = tok([prompt] * len(choices), choices, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            ref = model(**{k: v[None] for k, v in enc.items()}).logits[0]
        got = ours(prompt, choices=choices)
        assert np.abs(np.array(got["logits"]) - ref.numpy()).max() <= TOL
        assert np.abs(np.array(got["scores"]) - ref.softmax(-1).numpy()).max() <= TOL
        assert got["answer"] == choices[int(ref.argmax())]


CHECKS = {"token-classification": check_token_classification, "question-answering": check_question_answering,
          "fill-mask": check_fill_mask, "feature-extraction": check_feature_extraction,
          "zero-shot-classification": check_zero_shot_classification, "multiple-choice": check_multiple_choice}


@pytest.mark.family("token-classification", "encoder")
@pytest.mark.family("question-answering", "encoder")
@pytest.mark.family("fill-mask", "encoder")
@pytest.mark.family("feature-extraction", "encoder")
@pytest.mark.family("zero-shot-classification", "encoder")
@pytest.mark.family("multiple-choice", "encoder")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_matches_transformers(task, backend, bundle_dir, oracle, reference_dir):
    CHECKS[task](bundle_dir, oracle, reference_dir, backend)


# -- edgetool validate: task metrics on the golden samples, both backends ----------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_validate_passes_with_task_metric(bundle_dir, task):
    from edgetool.cli import cli
    from edgetool.runtime.tasks import get_task

    r = CliRunner().invoke(cli, ["validate", str(bundle_dir(task, target="openvino"))])
    assert r.exit_code == 0, r.output
    assert "PARITY OK" in r.output
    assert r.output.count(get_task(task).metric) >= 2  # one report per backend, each with the task's metric


# -- local checkpoints (--model DIR) the test saves itself ----------------------------------------------------
def test_own_ner_checkpoint_via_cli(tmp_path, reference_dir):
    """A checkpoint saved here (own labels, own seed) exported with `edgetool export --model`, vs transformers."""
    import shutil

    import torch
    from transformers import AutoTokenizer, BertForTokenClassification
    from transformers import pipeline as hf_pipeline

    from edgetool.cli import cli
    from edgetool.export.reference.text import tiny_bert_config

    ckpt = tmp_path / "my-ner"
    tok = AutoTokenizer.from_pretrained(str(reference_dir("bert-tiny-ner")))
    tok.save_pretrained(str(ckpt))
    labels = {0: "O", 1: "B-MISC", 2: "I-MISC", 3: "B-DATE", 4: "I-DATE"}
    torch.manual_seed(7)
    BertForTokenClassification(tiny_bert_config(len(tok), id2label=labels, label2id={v: k for k, v in labels.items()})) \
        .eval().save_pretrained(str(ckpt), safe_serialization=True)
    out = tmp_path / "bundle"
    r = CliRunner().invoke(cli, ["export", "--task", "ner", "--model", str(ckpt), "--target", "openvino", "--out", str(out)])
    assert r.exit_code == 0, r.output
    hf = hf_pipeline("token-classification", model=str(ckpt))
    for backend in BACKENDS:
        ours = pipeline(out, backend=backend)
        for strategy in ("none", "simple", "average"):
            assert_same(ours(NER_TEXTS, aggregation_strategy=strategy), hf(NER_TEXTS, aggregation_strategy=strategy))
    shutil.rmtree(ckpt)  # the bundle needs nothing from the checkpoint
    r = CliRunner().invoke(cli, ["validate", str(out)])
    assert r.exit_code == 0 and "PARITY OK" in r.output


@pytest.mark.parametrize("layout", ["new", "legacy"])
def test_own_sentence_transformers_checkpoint(tmp_path, reference_dir, bundle_dir, layout):
    """sentence-transformers checkpoints saved here: pooling cls+max (concatenated), Normalize, a max_seq_length
    and lower-casing — in sentence-transformers 5's format and in the legacy pooling_mode_* / do_lower_case one."""
    from sentence_transformers import SentenceTransformer, models

    base = str(reference_dir("bert-tiny-encoder"))
    st = SentenceTransformer(modules=[models.Transformer(base, max_seq_length=40, do_lower_case=True),
                                      models.Pooling(32, pooling_mode=("cls", "max")), models.Normalize()], device="cpu")
    ckpt = tmp_path / f"st-{layout}"
    st.save(str(ckpt))
    if layout == "legacy":  # as sentence-transformers 2.x wrote it (all-MiniLM-L6-v2 looks like this)
        (ckpt / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
             "pooling_mode_max_tokens": True, "pooling_mode_mean_sqrt_len_tokens": False}))
        (ckpt / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 40, "do_lower_case": True}))
        AutoTok = __import__("transformers").AutoTokenizer
        AutoTok.from_pretrained(base).save_pretrained(str(ckpt))  # the plain tokenizer: no Lowercase added
    texts = ["I LOVE this", "The Quick Brown Fox jumps over the lazy dog.", "Who wrote the book? " * 30]
    ref = SentenceTransformer(str(ckpt), device="cpu").encode(texts)
    bundle = bundle_dir("feature-extraction", model=ckpt, target="openvino")
    sentence = json.loads((bundle / "edgetool.json").read_text())["processing"]["sentence"]
    assert sentence["pooling"] == ["cls", "max"] and sentence["normalize"] is True
    for backend in BACKENDS:
        got = pipeline(bundle, backend=backend).sentence_embeddings(texts)
        assert got.shape == ref.shape == (3, 64) and np.abs(got - ref).max() <= TOL


LEFT_PADDED = {"question-answering": ("bert-tiny-qa", "AutoModelForQuestionAnswering"),
               "token-classification": ("roberta-tiny-ner", "AutoModelForTokenClassification"),
               "zero-shot-classification": ("bert-tiny-nli", "AutoModelForSequenceClassification")}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("task", sorted(LEFT_PADDED))
def test_left_padding_tokenizer(task, tmp_path, reference_dir, bundle_dir):
    """A checkpoint whose tokenizer pads on the left: transformers then puts the QA context first and
    BERT positions shift with padding, so windows and batches must be padded exactly as it does."""
    import transformers

    ref, auto = LEFT_PADDED[task]
    ckpt = tmp_path / "left"
    transformers.AutoTokenizer.from_pretrained(str(reference_dir(ref)), padding_side="left").save_pretrained(str(ckpt))
    getattr(transformers, auto).from_pretrained(str(reference_dir(ref))).save_pretrained(str(ckpt))
    ours, hf = pipeline(bundle_dir(task, model=ckpt)), transformers.pipeline(task, model=str(ckpt))
    if task == "question-answering":
        calls = [((), kw) for kw in QA_CASES]
    elif task == "token-classification":
        calls = [((NER_LONG,), {"stride": 5}), ((NER_LONG,), {"stride": 16, "aggregation_strategy": "first"})]
    else:
        calls = [(("The election was strange.",), {"candidate_labels": ["politics", "food and drink", "far travel"]}),
                 (("The election was strange.",), {"candidate_labels": "a, bb cc dd", "multi_label": True})]
    for args, kw in calls:
        assert_same(ours(*args, **kw), hf(*args, **kw), kw)


def test_unsupported_sentence_transformers_module_is_refused(tmp_path, reference_dir):
    from sentence_transformers import SentenceTransformer, models

    from edgetool.export.families.text_tasks import sentence_settings
    from edgetool.runtime.errors import UnsupportedError

    base = str(reference_dir("bert-tiny-encoder"))
    st = SentenceTransformer(modules=[models.Transformer(base), models.Pooling(32),
                                      models.Dense(32, 8)], device="cpu")
    st.save(str(tmp_path / "dense"))
    with pytest.raises(UnsupportedError, match="Dense"):
        sentence_settings(tmp_path / "dense")


# -- bad input: a clear error or a correct answer -------------------------------------------------------------
def test_bad_inputs(bundle_dir):
    ner = pipeline(bundle_dir("token-classification", target="openvino"))
    qa = pipeline(bundle_dir("question-answering", target="openvino"))
    fill = pipeline(bundle_dir("fill-mask", target="openvino"))
    embed = pipeline(bundle_dir("feature-extraction", target="openvino"))
    zs = pipeline(bundle_dir("zero-shot-classification", target="openvino"))
    mc = pipeline(bundle_dir("multiple-choice", target="openvino"))
    for bad in ("", "   \n\t", [], None, 3):
        for call in (ner, fill, embed, lambda x: zs(x, candidate_labels=["a"]), lambda x: mc(x, choices=["a", "b"])):
            with pytest.raises(UsageError):
                call(bad)
        with pytest.raises(UsageError):
            qa(question="Who?", context=bad)
        with pytest.raises(UsageError):
            qa(question=bad, context=QA_CTX)
    with pytest.raises(UsageError, match="aggregation_strategy"):
        ner("hi", aggregation_strategy="mean")
    with pytest.raises(UsageError, match="stride"):
        ner("hi", stride=500)
    with pytest.raises(UsageError, match="both a question and a context"):
        qa(question="Who?")
    with pytest.raises(UsageError, match="one context per question"):
        qa(question=["a", "b"], context=[QA_CTX])
    with pytest.raises(UsageError, match="top_k"):
        qa(question="Who?", context=QA_CTX, top_k=0)
    with pytest.raises(UsageError, match="no room is left for the context"):  # transformers: a tokenizer exception
        qa(question="Who wrote the book? " * 40, context=QA_CTX)
    short = qa(question="What is the capital of the country where the museum is?", context="Paris.")
    assert short["answer"] and "Paris."[short["start"]:short["end"]] == short["answer"]  # (same as transformers: QA_CASES)
    with pytest.raises(UsageError, match=r"No mask token \[MASK\] found"):
        fill("there is no mask here")
    with pytest.raises(UsageError, match="targets"):
        fill("a [MASK] b", targets=[""])
    with pytest.raises(UsageError, match="pooling"):
        embed("hi", pooling="median")
    for labels in ([], "", " , ", None):
        with pytest.raises(UsageError, match="at least one candidate label"):
            zs("text", candidate_labels=labels)
    with pytest.raises(UsageError, match="no '{}'"):
        zs("text", candidate_labels=["a"], hypothesis_template="no slot")
    with pytest.raises(UsageError, match="at least two choices"):
        mc("prompt", choices=["only one"])


def test_hundred_thousand_characters(bundle_dir):
    """~25,000 tokens: processed in windows, batch by batch (bounded memory), never truncated silently."""
    import tracemalloc

    ner = pipeline(bundle_dir("token-classification", target="openvino"))
    huge = "John Smith lives in Paris. " * 3704  # 100,008 characters
    tracemalloc.start()
    entities = ner(huge, aggregation_strategy="simple")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert entities and max(e["end"] for e in entities) > len(huge) - 100 and peak < 200 * 2**20
    qa = pipeline(bundle_dir("question-answering", target="openvino"))
    ans = qa(question="Who wrote the book?", context=QA_CTX * 900, top_k=2)
    assert all(0 <= a["start"] < a["end"] <= len(QA_CTX * 900) and a["answer"] for a in ans)
    fill = pipeline(bundle_dir("fill-mask", target="openvino"))
    text = "word " * 20000 + "The capital of France is [MASK]."  # the mask is ~20,000 tokens in
    preds = fill(text, top_k=2)
    # a WordPiece continuation ("##noun") is glued to the previous word in the decoded sequence
    assert len(preds) == 2 and len(preds[0]["sequence"]) > 100_000
    assert preds[0]["token_str"].removeprefix("##") in preds[0]["sequence"][-40:]
    embed = pipeline(bundle_dir("feature-extraction", target="openvino"))
    tokens = embed("word " * 20000, return_tensors=True)  # token embeddings from overlapping windows
    assert tokens.shape == (1, 20002, 32) and np.isfinite(tokens).all()
    sentence = embed.sentence_embeddings("word " * 20000)  # sentence-transformers truncates: so do we
    assert np.abs(sentence - embed.sentence_embeddings("word " * 62)).max() <= TOL
    zs = pipeline(bundle_dir("zero-shot-classification", target="openvino"))
    assert sorted(zs(huge, candidate_labels=["people", "places"])["labels"]) == ["people", "places"]
    mc = pipeline(bundle_dir("multiple-choice", target="openvino"))
    assert mc(huge, choices=["yes", "no"])["answer"] in ("yes", "no")


def test_windows_cover_every_token_and_stitch_back():
    """The window plan (special tokens + overlapping content slices) and the merge, on a fake encoding."""
    from types import SimpleNamespace

    from edgetool.runtime.postprocess.windows import centered_window, sliding_windows, stitch

    n = 300
    enc = SimpleNamespace(ids=list(range(n)), special_tokens_mask=[1] + [0] * (n - 2) + [1])
    for max_length, stride in ((128, 32), (20, 0), (20, 17)):
        windows = sliding_windows(enc, max_length, stride)
        assert all(len(w) <= max_length and w[0] == 0 and w[-1] == n - 1 for w in windows)
        for a, b in zip(windows, windows[1:]):
            assert len(np.intersect1d(a[1:-1], b[1:-1])) == stride
        outs = [w.astype(np.float32)[:, None] for w in windows]  # each token's "output" is its own index
        assert np.array_equal(stitch(enc, windows, outs)[:, 0], np.arange(n))
    w = centered_window(enc, 20, 150)
    assert len(w) == 20 and 150 in w and abs(int(np.nonzero(w == 150)[0][0]) - 10) <= 1
    assert centered_window(enc, 20, 1)[1] == 1 and centered_window(enc, 20, n - 2)[-2] == n - 2
    with pytest.raises(UsageError, match="stride"):
        sliding_windows(enc, 20, 18)


# -- the CLI: registry-driven options, tables, --json -------------------------------------------------------
def test_cli_run_each_task(bundle_dir):
    from edgetool.cli import cli

    def run(task, *argv):
        r = CliRunner().invoke(cli, ["run", str(bundle_dir(task, target="openvino")), *argv])
        assert r.exit_code == 0, r.output
        return r.stdout

    out = run("token-classification", NER_TEXTS[0], "--aggregation-strategy", "simple", "--ignore-labels", "O,MISC")
    assert out.splitlines()[0].split()[:2] == ["entity", "score"]
    ents = json.loads(run("token-classification", NER_TEXTS[0], "--json"))
    assert all({"entity", "score", "index", "word", "start", "end"} == set(e) for e in ents)
    answers = json.loads(run("question-answering", "--question", "Who wrote the book?", "--context", QA_CTX,
                             "--top-k", "2", "--max-answer-len", "4", "--json"))
    assert len(answers) == 2 and all(QA_CTX[a["start"]:a["end"]] == a["answer"] for a in answers)
    assert "answer" in run("question-answering", "--question", "Who?", "--context", QA_CTX, "--handle-impossible-answer")
    preds = json.loads(run("fill-mask", "The weather was [MASK].", "--targets", "calm,good", "--json"))
    assert sorted(p["token_str"] for p in preds) == ["calm", "good"]
    assert "token" in run("fill-mask", "The weather was [MASK].", "--top-k", "3")
    emb = json.loads(run("feature-extraction", "I love this", "--pooling", "mean", "--normalize", "--json"))
    assert len(emb) == 32 and abs(np.linalg.norm(emb) - 1) < 1e-5
    assert "token embeddings 1 x 5 x 32" in run("feature-extraction", "I love this")
    zs = json.loads(run("zero-shot-classification", "The soup was delicious", "--labels", "food,sports,politics",
                        "--multi-label", "--json"))
    assert sorted(zs["labels"]) == ["food", "politics", "sports"] and len(zs["scores"]) == 3
    table = run("zero-shot-classification", "The soup was delicious", "--labels", "food,sports")
    assert "food" in table and "sports" in table
    out = run("multiple-choice", "The weather was", "--choices", "calm,bad")
    assert "calm" in out and "*" in out


def test_cli_option_of_another_task_is_a_clear_error(bundle_dir):
    from cli_invoke import invoke_cli

    r = invoke_cli("run", bundle_dir("fill-mask", target="openvino"), "hi [MASK]", "--labels", "a")
    assert r.exit_code == 2 and "--labels does not apply to task 'fill-mask'" in r.output
    r = invoke_cli("run", bundle_dir("fill-mask", target="openvino"), "no mask here")
    assert r.exit_code == 2 and "No mask token [MASK]" in r.output


NO_TORCH = """
import json, sys
from edgetool.runtime import pipeline
calls = {"token-classification": (["John Smith lives in Paris."], {"aggregation_strategy": "simple"}),
         "question-answering": ([], {"question": "Who?", "context": "John Smith wrote the book."}),
         "fill-mask": (["The weather was [MASK]."], {}),
         "feature-extraction": (["I love this"], {"pooling": "mean", "normalize": True}),
         "zero-shot-classification": (["The soup was good"], {"candidate_labels": ["food", "sports"]}),
         "multiple-choice": (["The weather was"], {"choices": ["calm", "bad"]})}
for task, path in json.loads(sys.argv[1]).items():
    for backend in ("onnxruntime", "openvino"):
        args, kwargs = calls[task]
        pipeline(path, backend=backend)(*args, **kwargs)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx", "sentence_transformers"))))
"""


def test_runtime_never_imports_torch(bundle_dir):
    """All six pipelines, both backends, in a fresh process: numpy + tokenizers + the engine only."""
    import subprocess
    import sys

    paths = {t: str(bundle_dir(t, target="openvino")) for t in TASKS}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, json.dumps(paths)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
