"""token-classification (NER), answering like transformers' TokenClassificationPipeline.

One deliberate difference: a text longer than the model's max length is processed in overlapping
windows and merged (transformers truncates it unless `stride` is given); `stride` defaults to a
quarter of the window then. Within the max length the results are identical."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline

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

    def __call__(self, inputs, aggregation_strategy: str = "none", ignore_labels=None, stride: int | None = None):
        texts = check_texts(inputs)
        strategy = (aggregation_strategy or "none").lower()
        if strategy not in STRATEGIES:
            raise UsageError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, got {aggregation_strategy!r}.")
        if stride is not None and not 0 <= stride < self.tokenizer.max_length // 2:
            raise UsageError(f"stride must be in [0, {self.tokenizer.max_length // 2}), got {stride}.")
        ignore = ["O"] if ignore_labels is None else list(ignore_labels)
        results = [self._one(t, strategy, ignore, stride) for t in texts]
        return results[0] if isinstance(inputs, str) else results

    def _one(self, text: str, strategy: str, ignore: list, stride: int | None) -> list[dict]:
        probe = self.tokenizer.encode([text], truncation=False).encodings[0]
        windowed = stride is not None or len(probe.ids) > self.tokenizer.max_length
        if windowed and stride is None:
            stride = self.tokenizer.max_length // 4
        enc = self.tokenizer.encode([text], stride=stride or 0, return_overflowing=windowed)
        entities = []
        for e in enc.encodings:
            feeds = self.tokenizer.pad([e])
            logits = self.run_graph("model", feeds)["logits"][0].astype(np.float32)
            shifted = np.exp(logits - logits.max(-1, keepdims=True))
            scores = shifted / shifted.sum(-1, keepdims=True)
            pre = self._pre_entities(text, e, scores)
            grouped = self._aggregate(pre, strategy)
            entities += [x for x in grouped if x.get("entity") not in ignore and x.get("entity_group") not in ignore]
        if len(enc.encodings) > 1:
            entities = self._merge_overlaps(entities)
        return entities

    def _pre_entities(self, text, e, scores) -> list[dict]:
        out = []
        for idx, token_scores in enumerate(scores):
            if e.special_tokens_mask[idx]:
                continue
            word = self.tokenizer.tok.id_to_token(e.ids[idx])
            start, end = e.offsets[idx]
            ref = text[start:end]
            if self.subword_prefix:
                is_sub = len(word) != len(ref)
            else:
                is_sub = start > 0 and " " not in text[start - 1:start + 1]
            if e.ids[idx] == self.unk_id:
                word, is_sub = ref, False
            out.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": idx, "is_subword": is_sub})
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
            scores = np.nanmean(np.stack([p["scores"] for p in group]), axis=0)
        k = int(scores.argmax())
        return {"entity": self.id2label[k], "score": float(scores[k]), "word": self.tokens_to_string([p["word"] for p in group]),
                "start": group[0]["start"], "end": group[-1]["end"]}

    def _group(self, entities: list[dict]) -> list[dict]:
        groups, current = [], []
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
        score = np.nanmean(np.array([e["score"] for e in ents], dtype=np.float32))
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

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        lines = []
        for row in rows:
            for e in row:
                lines.append(f"{e.get('entity_group', e.get('entity')):<10} {e['score']:.4f}  [{e['start']}:{e['end']}]  {e['word']}")
        return "\n".join(lines) or "(no entities)"
