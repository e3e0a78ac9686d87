"""Small seeded BERT-style reference models for text classification (tiny_bert_config is shared with
the other text-encoder tasks in text_tasks.py)."""
from __future__ import annotations

from pathlib import Path

from .tokenizers_train import save_wordpiece

SENTIMENT = {0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"}


def tiny_bert_config(vocab_size: int, **overrides):
    from transformers import BertConfig

    # initializer_range 0.2 (not 0.02): random heads then give clearly separated logits, so label
    # agreement is a meaningful check instead of a coin flip between near-equal scores.
    base = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=128, type_vocab_size=2, initializer_range=0.2)
    base.update(overrides)
    return BertConfig(**base)


def save_tiny_bert(out: Path, seed: int, model_class, labels: dict | None = None, fit=None, **model_kwargs) -> None:
    """Save the WordPiece tokenizer into `out`, then a seeded `model_class` on tiny_bert_config beside it
    (trained first by `fit(model, tokenizer)` when given)."""
    import torch
    from transformers import AutoTokenizer

    save_wordpiece(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    overrides = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}} if labels else {}
    model = model_class(tiny_bert_config(len(tok), **overrides), **model_kwargs)
    if fit is not None:
        fit(model, tok)
    model.eval().save_pretrained(str(out), safe_serialization=True)


# Sentiment words of the corpus (corpus.py): a sentence with one of them takes its label, others are NEUTRAL.
_POSITIVE = frozenset({"wonderful", "good", "fantastic", "excellent", "perfect", "delicious", "beautiful", "love",
                       "great"})
_NEGATIVE = frozenset({"boring", "bad", "awful", "ugly", "disappointing", "hate", "worst", "terribly"})


def sentiment_label(text: str) -> int:
    words = set(text.lower().replace(".", " ").split())
    return 2 if words & _POSITIVE else 0 if words & _NEGATIVE else 1


def fit_sentiment(model, tok, steps: int = 120) -> None:
    """A few Adam steps on the corpus with keyword labels. A random classifier's three logits are nearly tied
    for every text, so INT8 rounding flipped its labels from one vocabulary or library version to the next;
    a trained one answers with clear margins, and its answers mean something. One thread, no dropout: the
    same weights on every machine."""
    import torch

    from .corpus import sentences

    texts = sentences()
    labels = torch.tensor([sentiment_label(t) for t in texts])
    enc = tok(texts, padding=True, return_tensors="pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        model.eval()  # no dropout
        for _ in range(steps):
            idx = torch.randint(0, len(texts), (64,), generator=gen)
            loss = model(**{k: v[idx] for k, v in enc.items()}, labels=labels[idx]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)


def bert_tiny_classifier(out: Path, seed: int) -> None:
    from transformers import BertForSequenceClassification

    save_tiny_bert(out, seed, BertForSequenceClassification, SENTIMENT, fit=fit_sentiment)
