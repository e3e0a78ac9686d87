"""token-classification (NER), answering like transformers' TokenClassificationPipeline.

One deliberate difference: a text longer than the model's max length is processed in overlapping
windows and merged (transformers truncates it unless `stride` is given); `stride` defaults to a
quarter of the window then. With an explicit `stride`, or within the max length, the results are
transformers' own."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.windows import unpad
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared

STRATEGIES = ("none", "simple", "first", "average", "max")


def _tag(name: str) -> tuple[str, str]:
    if name.startswith("B-"):
        return "B", name[2:]
    if name.startswith("I-"):
        return "I", name[2:]
    return "I", name


class TokenClassificationPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.id2label = self.bundle.id2label
        self.subword_prefix = getattr(self.tokenizer.tok.model, "continuing_subword_prefix", None)
        self.unk_id = self.tokenizer.token_id(self.bundle.processing["tokenizer"].get("unk_token", "")) \
            if self.bundle.processing["tokenizer"].get("unk_token") else None

    def tokens_to_string(self, tokens: list[str]) -> str:
        dec = self.tokenizer.tok.decoder
        return dec.decode(tokens) if dec is not None else " ".join(tokens)

    def sanitize(self, aggregation_strategy: str = "none", ignore_labels=None, stride: int | None = None,
                 batch_size: int = 8) -> dict:
        strategy = (aggregation_strategy or "none").lower()
        if strategy not in STRATEGIES:
            raise UsageError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, got {aggregation_strategy!r}.")
        room = self.tokenizer.max_length - self.tokenizer.tok.num_special_tokens_to_add(False)
        if stride is not None and (not isinstance(stride, int) or not 0 <= stride < room):
            raise UsageError(f"stride must be an integer in [0, {room}) (the {self.tokenizer.max_length}-token window "
                             f"minus special tokens), got {stride!r}.")
        if isinstance(ignore_labels, str):
            ignore_labels = [ignore_labels]
        ignore = ["O"] if ignore_labels is None else list(ignore_labels)
        return {"strategy": strategy, "ignore": ignore, "stride": stride, "batch_size": batch_size}

    def split(self, inputs, opts):
        return check_texts(inputs), isinstance(inputs, str)

    def preprocess(self, batch, opts) -> Prepared:
        (text,) = batch
        tok, stride = self.tokenizer, opts["stride"]
        if stride is None:
            probe = tok.encode([text], truncation=False).encodings[0]
            if len(probe.ids) > tok.max_length:
                stride = tok.max_length // 4
        # windows exactly as transformers makes them with `stride` (tokenizer overflow), merged likewise
        enc = tok.encode([text], stride=stride or 0, return_overflowing=stride is not None)
        # the chunks padded together, as transformers does (padding=True): with left padding that
        # shifts the positions of the shorter last chunk, so it matters for identical results
        return Prepared(batch, tok.pad(enc.encodings), extra=enc.encodings)

    def forward(self, prepared, opts) -> np.ndarray:
        """Logits of every window, batch_size windows per engine call."""
        n, size = len(prepared.extra), opts["batch_size"]
        return np.concatenate([self.head.forward({k: v[i:i + size] for k, v in prepared.feeds.items()})[LOGITS]
                               for i in range(0, n, size)])

    def postprocess(self, prepared, logits, opts) -> list:
        (text,), tok, encodings = prepared.items, self.tokenizer, prepared.extra
        entities = []
        for e, row in zip(encodings, logits.astype(np.float32)):
            row = unpad(row, len(e.ids), tok.padding_side)
            shifted = np.exp(row - row.max(-1, keepdims=True))
            scores = shifted / shifted.sum(-1, keepdims=True)
            # transformers' token index counts left padding
            pad = len(logits[0]) - len(e.ids) if tok.padding_side == "left" else 0
            grouped = self._aggregate(self._pre_entities(text, e, scores, pad), opts["strategy"])
            entities += [x for x in grouped
                         if x.get("entity") not in opts["ignore"] and x.get("entity_group") not in opts["ignore"]]
        if len(encodings) > 1:
            entities = self._merge_overlaps(entities)
        return [entities]

    def _pre_entities(self, text, e, scores, index_offset: int = 0) -> list[dict]:
        # Encoding properties build a new list on every access: read each once
        ids, offsets, special = e.ids, e.offsets, e.special_tokens_mask
        to_token = self.tokenizer.tok.id_to_token
        out = []
        for idx, token_scores in enumerate(scores):
            if special[idx]:
                continue
            word = to_token(ids[idx])
            start, end = offsets[idx]
            ref = text[start:end]
            if self.subword_prefix:
                is_sub = len(word) != len(ref)
            else:
                is_sub = start > 0 and " " not in text[start - 1:start + 1]
            if ids[idx] == self.unk_id:
                word, is_sub = ref, False
            out.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": idx + index_offset,
                        "is_subword": is_sub})
        return out

    def _aggregate(self, pre: list[dict], strategy: str) -> list[dict]:
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                k = int(p["scores"].argmax())
                entities.append({"entity": self.id2label[k], "score": float(p["scores"][k]), "index": p["index"],
                                 "word": p["word"], "start": p["start"], "end": p["end"]})
        else:
            entities, group = [], None
            for p in pre:
                if group is None:
                    group = [p]
                elif p["is_subword"]:
                    group.append(p)
                else:
                    entities.append(self._word(group, strategy))
                    group = [p]
            if group is not None:
                entities.append(self._word(group, strategy))
        return entities if strategy == "none" else self._group(entities)

    def _word(self, group: list[dict], strategy: str) -> dict:
        if strategy == "first":
            scores = group[0]["scores"]
        elif strategy == "max":
            scores = max(group, key=lambda p: p["scores"].max())["scores"]
        else:
            scores = group[0]["scores"] if len(group) == 1 else np.nanmean(np.stack([p["scores"] for p in group]), axis=0)
        k = int(scores.argmax())
        return {"entity": self.id2label[k], "score": float(scores[k]), "word": self.tokens_to_string([p["word"] for p in group]),
                "start": group[0]["start"], "end": group[-1]["end"]}

    def _group(self, entities: list[dict]) -> list[dict]:
        groups: list[dict] = []
        current: list[dict] = []
        for ent in entities:
            if current:
                bi, tag = _tag(ent["entity"])
                _, last_tag = _tag(current[-1]["entity"])
                if not (tag == last_tag and bi != "B"):
                    groups.append(self._sub_group(current))
                    current = []
            current.append(ent)
        if current:
            groups.append(self._sub_group(current))
        return groups

    def _sub_group(self, ents: list[dict]) -> dict:
        # transformers: np.nanmean over the float32 scores (a lone score is its own mean)
        score = ents[0]["score"] if len(ents) == 1 else np.nanmean(np.array([e["score"] for e in ents], dtype=np.float32))
        return {"entity_group": ents[0]["entity"].split("-", 1)[-1], "score": float(score),
                "word": self.tokens_to_string([e["word"] for e in ents]), "start": ents[0]["start"], "end": ents[-1]["end"]}

    @staticmethod
    def _merge_overlaps(entities: list[dict]) -> list[dict]:
        """Overlapping windows: keep the longest (then highest-scoring) of entities that overlap."""
        if not entities:
            return entities
        entities = sorted(entities, key=lambda x: x["start"])
        out, prev = [], entities[0]
        for ent in entities:
            if prev["start"] <= ent["start"] < prev["end"]:
                cur_len, prev_len = ent["end"] - ent["start"], prev["end"] - prev["start"]
                if cur_len > prev_len or cur_len == prev_len and ent["score"] > prev["score"]:
                    prev = ent
            else:
                out.append(prev)
                prev = ent
        out.append(prev)
        return out
