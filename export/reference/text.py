"""Small seeded BERT-style reference models for text classification (tiny_bert_config is shared with
the other text-encoder tasks in text_tasks.py)."""
from __future__ import annotations

from pathlib import Path

from .tokenizers_train import train_wordpiece

SENTIMENT = {0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"}


def tiny_bert_config(vocab_size: int, **overrides):
    from transformers import BertConfig

    # initializer_range 0.2 (not 0.02): random heads then give clearly separated logits, so label
    # agreement is a meaningful check instead of a coin flip between near-equal scores.
    base = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=128, type_vocab_size=2, initializer_range=0.2)
    base.update(overrides)
    return BertConfig(**base)


def save_tiny_bert(out: Path, seed: int, model_class, labels: dict | None = None, **model_kwargs) -> None:
    """Train a WordPiece tokenizer into `out`, then save a seeded `model_class` on tiny_bert_config beside it."""
    import torch
    from transformers import AutoTokenizer

    train_wordpiece(out)
    vocab = len(AutoTokenizer.from_pretrained(str(out)))
    torch.manual_seed(seed)
    overrides = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}} if labels else {}
    model = model_class(tiny_bert_config(vocab, **overrides), **model_kwargs)
    model.eval().save_pretrained(str(out), safe_serialization=True)


def bert_tiny_classifier(out: Path, seed: int) -> None:
    from transformers import BertForSequenceClassification

    save_tiny_bert(out, seed, BertForSequenceClassification, SENTIMENT)
