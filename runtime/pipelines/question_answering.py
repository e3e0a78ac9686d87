"""question-answering (extractive), answering like transformers' QuestionAnsweringPipeline:
doc_stride windows over long contexts, top_k, max_answer_len, handle_impossible_answer, answers
as character spans of the original context (aligned to words)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.spans import decode_spans, span_probabilities
from ..postprocess.windows import batches, unpad
from ..preprocess.text import TextTokenizer
from .base import Pipeline, Prepared


class QuestionAnsweringPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        cls = self.bundle.processing["tokenizer"].get("cls_token")
        self.cls_id = self.tokenizer.token_id(cls) if cls else None
        # transformers puts the question first unless the tokenizer pads on the left
        self.question_first = self.tokenizer.padding_side == "right"

    def __call__(self, question=None, context=None, **options):
        return super().__call__((question, context), **options)

    def sanitize(self, top_k: int = 1, doc_stride: int | None = None, max_answer_len: int = 15,
                 max_seq_len: int | None = None, handle_impossible_answer: bool = False, align_to_words: bool = True,
                 batch_size: int = 8) -> dict:
        for name, v in (("top_k", top_k), ("max_answer_len", max_answer_len), ("batch_size", batch_size)):
            if not isinstance(v, int) or v < 1:
                raise UsageError(f"{name} must be an integer >= 1, got {v!r}.")
        if max_seq_len is not None and not 0 < max_seq_len <= self.tokenizer.max_length:
            raise UsageError(f"max_seq_len must be in [1, {self.tokenizer.max_length}] (the model's max length), "
                             f"got {max_seq_len}.")
        max_seq_len = max_seq_len or min(self.tokenizer.max_length, 384)
        if doc_stride is not None and (not isinstance(doc_stride, int) or doc_stride < 0):
            raise UsageError(f"doc_stride must be an integer >= 0, got {doc_stride!r}.")
        if doc_stride is not None and doc_stride > max_seq_len:
            raise UsageError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        return {"top_k": top_k, "doc_stride": doc_stride, "max_answer_len": max_answer_len, "max_seq_len": max_seq_len,
                "impossible": handle_impossible_answer, "align": align_to_words, "batch_size": batch_size}

    def split(self, inputs, opts):
        pairs = self._pairs(*inputs)
        return pairs, len(pairs) == 1

    def preprocess(self, batch, opts) -> Prepared:
        ((question, context),) = batch
        stride = self._stride(question, context, opts["max_seq_len"], opts["doc_stride"])
        tok, qf = self.tokenizer, self.question_first
        enc = tok.encode([question if qf else context], [context if qf else question], max_length=opts["max_seq_len"],
                         truncation="only_second" if qf else "only_first", stride=stride, return_overflowing=True)
        return Prepared(batch, extra=enc.encodings)

    def forward(self, prepared, opts) -> list:
        """(window indices, outputs) per engine call: windows of similar length go together."""
        tok, encodings = self.tokenizer, prepared.extra
        return [(group, self.head.forward(tok.pad([encodings[j] for j in group])))
                for group in batches([len(e.ids) for e in encodings], opts["batch_size"], tok.padding_side)]

    def postprocess(self, prepared, outputs, opts) -> list:
        ((_, context),), tok, qf = prepared.items, self.tokenizer, self.question_first
        min_null = 1000000.0
        answers: list[dict] = []
        top_k, impossible, align = opts["top_k"], opts["impossible"], opts["align"]
        pre_topk = top_k * 2 + 10 if align else top_k  # some candidates vanish when aligned to words
        for group, out in outputs:
            for k, e in enumerate(prepared.extra[j] for j in group):
                n = len(e.ids)
                # p_mask as transformers builds it: only context tokens (and [CLS]) may be in the answer
                p_mask = np.array([sid != 1 if qf else 0 for sid in e.sequence_ids], dtype=np.int64)
                if self.cls_id is not None:
                    p_mask[np.asarray(e.ids) == self.cls_id] = 0
                start = unpad(out["start_logits"][k], n, tok.padding_side).astype(np.float32)[None]
                end = unpad(out["end_logits"][k], n, tok.padding_side).astype(np.float32)[None]
                start, end, desired, null = span_probabilities(start, end, p_mask, np.asarray(e.attention_mask))
                if impossible:
                    min_null = min(min_null, null)
                for s, t, score in zip(*decode_spans(start, end, pre_topk, opts["max_answer_len"], desired)):
                    a, b = self._chars(e, int(s), int(t), align, 1 if qf else 0)
                    text = context[a:b]
                    same = next((x for x in answers if x["answer"].lower() == text.lower()), None)
                    if same:
                        same["score"] += float(score)
                    else:
                        answers.append({"score": float(score), "start": a, "end": b, "answer": text})
        if impossible:
            answers.append({"score": min_null, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return [answers[0] if len(answers) == 1 else answers]

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
            raise UsageError(f"question and context must be strings (or lists of strings); got "
                             f"{type(question).__name__} and {type(context).__name__}.")
        if not pairs:
            raise UsageError("Got an empty list of questions; give at least one.")
        for q, c in pairs:
            for name, v in (("question", q), ("context", c)):
                if not isinstance(v, str):
                    raise UsageError(f"Each {name} must be a str, got {type(v).__name__}.")
                if not v.strip():
                    raise UsageError(f"The {name} is empty (or only whitespace); give some text.")
        return pairs

    def _stride(self, question: str, context: str, max_seq_len: int, doc_stride: int | None) -> int:
        """transformers' doc_stride, checked against the room the question leaves (tokenizers would panic)."""
        tok = self.tokenizer.tok
        n_question = len(tok.encode(question, add_special_tokens=False).ids)
        room = max_seq_len - n_question - tok.num_special_tokens_to_add(True)
        if room < 1:
            raise UsageError(f"The question is {n_question} tokens long; with max_seq_len {max_seq_len} no room is left "
                             "for the context. Shorten the question (or pass a larger max_seq_len, up to "
                             f"{self.tokenizer.max_length}).")
        default = min(max_seq_len // 2, 128)
        if doc_stride is None:
            # transformers' default; shrunk only where it would not fit (transformers fails there)
            return default if default < room else room // 2
        if doc_stride >= room and len(tok.encode(context, add_special_tokens=False).ids) > room:  # windows needed
            raise UsageError(f"doc_stride {doc_stride} must be smaller than the {room} context tokens that fit next to "
                             f"this question in max_seq_len {max_seq_len}; pass a smaller doc_stride.")
        return doc_stride

    @staticmethod
    def _chars(e, s: int, t: int, align: bool, sequence: int) -> tuple[int, int]:
        if align:
            try:
                return e.word_to_chars(e.token_to_word(s), sequence)[0], e.word_to_chars(e.token_to_word(t), sequence)[1]
            except Exception:  # transformers falls back the same way (e.g. special tokens have no word)
                pass
        return e.offsets[s][0], e.offsets[t][1]
