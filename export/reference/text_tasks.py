"""Seeded reference checkpoints of the text-encoder tasks: NER, QA, fill-mask, embeddings, zero-shot
(NLI), multiple choice. WordPiece BERTs, plus byte-level BPE RoBERTas for NER and fill-mask so both
sub-word conventions ('##' continuation, 'Ġ' word start) are exercised end to end."""
from __future__ import annotations

from pathlib import Path

from .text import save_tiny_bert


def _save_tiny_roberta(out: Path, seed: int, model_class, bos_eos: bool = False, **config_overrides) -> None:
    """Train a byte-level BPE tokenizer into `out`, then save a seeded tiny RoBERTa `model_class` beside it
    (bos_eos: take the tokenizer's bos/eos ids into the config)."""
    import torch
    from transformers import AutoTokenizer, RobertaConfig

    from .tokenizers_train import train_byte_bpe

    train_byte_bpe(out, vocab_size=600, model_max_length=128, kind="roberta")
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    if bos_eos:
        config_overrides.update(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=130, type_vocab_size=1, initializer_range=0.2,
                        pad_token_id=tok.pad_token_id, **config_overrides)
    model_class(cfg).eval().save_pretrained(str(out), safe_serialization=True)


def bert_tiny_encoder(out: Path, seed: int) -> None:
    """A sentence-transformers-style checkpoint: BertModel + 1_Pooling (mean) + Normalize."""
    import json

    from transformers import BertModel

    save_tiny_bert(out, seed, BertModel, add_pooling_layer=False)
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
         "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))


def bert_tiny_mlm(out: Path, seed: int) -> None:
    from transformers import BertForMaskedLM

    save_tiny_bert(out, seed, BertForMaskedLM)


def roberta_tiny_mlm(out: Path, seed: int) -> None:
    """Byte-level BPE ('Ġ' word prefix) family."""
    from transformers import RobertaForMaskedLM

    _save_tiny_roberta(out, seed, RobertaForMaskedLM, bos_eos=True)


NLI = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}


def bert_tiny_nli(out: Path, seed: int) -> None:
    from transformers import BertForSequenceClassification

    save_tiny_bert(out, seed, BertForSequenceClassification, NLI)


def bert_tiny_choice(out: Path, seed: int) -> None:
    from transformers import BertForMultipleChoice

    save_tiny_bert(out, seed, BertForMultipleChoice)


NER = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}


def bert_tiny_ner(out: Path, seed: int) -> None:
    from transformers import BertForTokenClassification

    save_tiny_bert(out, seed, BertForTokenClassification, NER)


def roberta_tiny_ner(out: Path, seed: int) -> None:
    from transformers import RobertaForTokenClassification

    _save_tiny_roberta(out, seed, RobertaForTokenClassification, id2label=NER,
                       label2id={v: k for k, v in NER.items()})


def bert_tiny_qa(out: Path, seed: int) -> None:
    from transformers import BertForQuestionAnswering

    save_tiny_bert(out, seed, BertForQuestionAnswering)
