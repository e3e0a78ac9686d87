"""question-answering (extractive), answering like transformers' QuestionAnsweringPipeline:
doc_stride windows over long contexts, top_k, max_answer_len, handle_impossible_answer, answers
as character spans of the original context (aligned to words)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..preprocess.text import TextTokenizer
from .base import Pipeline


def decode_spans(start, end, topk: int, max_answer_len: int, desired: np.ndarray):
    """Best (start, end) token pairs by start*end probability, as transformers computes them."""
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if topk == 1:
        order = [np.argmax(flat)]
    elif len(flat) < topk:
        order = np.argsort(-flat)
    else:
        idx = np.argpartition(-flat, topk)[0:topk]
        order = idx[np.argsort(-flat[idx])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # transformers passes the full nonzero() tuple here (row indices included); kept for identical answers
    keep = np.isin(starts, desired.nonzero()) & np.isin(ends, desired.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


class QuestionAnsweringPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        cls = self.bundle.processing["tokenizer"].get("cls_token")
        self.cls_id = self.tokenizer.token_id(cls) if cls else None

    def __call__(self, question=None, context=None, top_k: int = 1, doc_stride: int | None = None,
                 max_answer_len: int = 15, max_seq_len: int | None = None, handle_impossible_answer: bool = False,
                 align_to_words: bool = True):
        pairs = self._pairs(question, context)
        if top_k < 1:
            raise UsageError(f"top_k must be >= 1, got {top_k}.")
        if max_answer_len < 1:
            raise UsageError(f"max_answer_len must be >= 1, got {max_answer_len}.")
        max_seq_len = max_seq_len or min(self.tokenizer.max_length, 384)
        doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
        if doc_stride > max_seq_len:
            raise UsageError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        results = [self._answer(q, c, top_k, doc_stride, max_answer_len, max_seq_len, handle_impossible_answer,
                                align_to_words) for q, c in pairs]
        return results[0] if len(results) == 1 else results

    @staticmethod
    def _pairs(question, context) -> list[tuple[str, str]]:
        if isinstance(question, dict) and context is None:
            question, context = question.get("question"), question.get("context")
        if question is None or context is None:
            raise UsageError("Give both a question and a context (CLI: --question '...' --context '...').")
        if isinstance(question, list) and isinstance(context, str):
            pairs = [(q, context) for q in question]
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise UsageError(f"Got {len(question)} questions but {len(context)} contexts; give one context per question.")
            pairs = list(zip(question, context))
        elif isinstance(question, str) and isinstance(context, str):
            pairs = [(question, context)]
        else:
            raise UsageError("question and context must be strings (or lists of strings).")
        for q, c in pairs:
            for name, v in (("question", q), ("context", c)):
                if not isinstance(v, str) or not v.strip():
                    raise UsageError(f"The {name} is empty; give some text.")
        return pairs

    def _answer(self, question, context, top_k, doc_stride, max_answer_len, max_seq_len, impossible, align):
        enc = self.tokenizer.encode([question], [context], max_length=max_seq_len, truncation="only_second",
                                    stride=doc_stride, return_overflowing=True)
        min_null = 1000000.0
        answers: list[dict] = []
        pre_topk = top_k * 2 + 10 if align else top_k
        for e in enc.encodings:
            p_mask = np.array([sid != 1 for sid in e.sequence_ids])
            ids = np.array(e.ids)
            if self.cls_id is not None:
                p_mask[ids == self.cls_id] = False
            out = self.run_graph("model", self.tokenizer.pad([e]))
            start_logits = out["start_logits"].astype(np.float32)
            end_logits = out["end_logits"].astype(np.float32)
            desired = np.abs(p_mask.astype(np.int64) - 1)[None] & np.array(e.attention_mask)[None]
            bad = desired == 0.0
            start = np.where(bad, np.float32(-10000.0), start_logits)
            end = np.where(bad, np.float32(-10000.0), end_logits)
            start = np.exp(start - start.max(axis=-1, keepdims=True))
            start = start / start.sum()
            end = np.exp(end - end.max(axis=-1, keepdims=True))
            end = end / end.sum()
            if impossible:
                min_null = min(min_null, float(start[0, 0] * end[0, 0]))
            start[0, 0] = end[0, 0] = 0.0
            starts, ends, scores = decode_spans(start, end, pre_topk, max_answer_len, desired)
            for s, t, score in zip(starts, ends, scores):
                a, b = self._chars(e, int(s), int(t), align)
                text = context[a:b]
                same = next((x for x in answers if x["answer"].lower() == text.lower()), None)
                if same:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": a, "end": b, "answer": text})
        if impossible:
            answers.append({"score": min_null, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def _chars(e, s: int, t: int, align: bool) -> tuple[int, int]:
        if align:
            try:
                return e.word_to_chars(e.token_to_word(s), 1)[0], e.word_to_chars(e.token_to_word(t), 1)[1]
            except Exception:  # transformers falls back the same way (e.g. special tokens have no word)
                pass
        return e.offsets[s][0], e.offsets[t][1]

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n".join(f"{r['score']:.4f}  [{r['start']}:{r['end']}]  {r['answer']!r}" for r in rows)
