"""Small tokenizers for the reference models, saved as Hugging Face fast tokenizers.

`tokenizers`' WordPiece and Unigram trainers are not reproducible across processes (they iterate Rust
hash maps: two fresh trainings of the same corpus differed in up to 54 of 522 WordPiece tokens, and
with them every token id, the seeded embedding rows, and which quantization tests pass). Their trained
vocabularies are therefore frozen in `assets/` and loaded; `freeze_vocabularies()` retrains and rewrites
them. BPE training is deterministic and stays live.
"""
from __future__ import annotations

import json
from pathlib import Path

from .corpus import sentences

ASSETS = Path(__file__).with_name("assets")
WORDPIECE_VOCAB = ASSETS / "wordpiece-vocab.txt"
UNIGRAM_VOCAB = ASSETS / "unigram-vocab.tsv"
WORDPIECE_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
UNIGRAM_SPECIAL = ["<pad>", "</s>", "<unk>"]


def _wordpiece(model):
    """BERT's lowercasing normalizer and pre-tokenizer around a WordPiece model (frozen or to be trained)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers

    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def _unigram(model):
    """SentencePiece's NFKC and '▁' word prefix around a Unigram model (frozen or to be trained)."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    tok = Tokenizer(model)
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok


def save_wordpiece(out_dir: Path, model_max_length: int = 128) -> None:
    """BERT-style: lowercase WordPiece with [CLS] A [SEP] (B [SEP]) templates, on the frozen vocabulary."""
    from tokenizers import decoders, models, processors
    from transformers import BertTokenizerFast

    vocab = {t: i for i, t in enumerate(WORDPIECE_VOCAB.read_text(encoding="utf-8").splitlines())}
    tok = _wordpiece(models.WordPiece(vocab, unk_token="[UNK]"))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)
    fast.save_pretrained(str(out_dir))


def save_unigram(out_dir: Path, model_max_length: int = 128) -> None:
    """SentencePiece-style Unigram (T5 / Marian) with '</s>' appended, on the frozen (piece, log-probability)
    table."""
    from tokenizers import models, processors
    from transformers import PreTrainedTokenizerFast

    rows = [line.split("\t") for line in UNIGRAM_VOCAB.read_text(encoding="utf-8").splitlines()]
    tok = _unigram(models.Unigram([(piece, float(score)) for piece, score in rows],
                                  unk_id=UNIGRAM_SPECIAL.index("<unk>"), byte_fallback=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=model_max_length, model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(str(out_dir))


def freeze_vocabularies(vocab_size_wordpiece: int = 1000, vocab_size_unigram: int = 400) -> None:
    """Retrain both vocabularies on the corpus and rewrite `assets/` (every reference model using them
    then rebuilds: the cache key hashes these files). Each run is a new draw: the INT8 tests' outcomes on
    the tiny references move with it (docs/limits.md), so run them before committing one."""
    from tokenizers import models, trainers

    wp = _wordpiece(models.WordPiece(unk_token="[UNK]"))
    wp.train_from_iterator(sentences(), trainers.WordPieceTrainer(vocab_size=vocab_size_wordpiece,
                                                                  special_tokens=WORDPIECE_SPECIAL))
    by_id = sorted(wp.get_vocab().items(), key=lambda kv: kv[1])
    WORDPIECE_VOCAB.write_text("".join(f"{t}\n" for t, _ in by_id), encoding="utf-8")

    uni = _unigram(models.Unigram())
    uni.train_from_iterator(sentences(), trainers.UnigramTrainer(vocab_size=vocab_size_unigram,
                                                                 special_tokens=UNIGRAM_SPECIAL, unk_token="<unk>"))
    pieces = json.loads(uni.to_str())["model"]["vocab"]
    UNIGRAM_VOCAB.write_text("".join(f"{p}\t{s!r}\n" for p, s in pieces), encoding="utf-8")


def train_byte_bpe(out_dir: Path, vocab_size: int = 1000, model_max_length: int = 128,
                   kind: str = "roberta") -> None:
    """Byte-level BPE (GPT-2 / RoBERTa / BART style, 'Ġ' word prefix)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if kind == "roberta":
        tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                          trim_offsets=True, add_prefix_space=False)
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", model_max_length=model_max_length,
                                   model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(str(out_dir))
