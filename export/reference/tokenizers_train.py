"""Train small tokenizers locally with `tokenizers`, saved as Hugging Face fast tokenizers."""
from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

from .corpus import sentences


def wordpiece_vocab(vocab_size: int, special: list[str], normalizer, pre_tokenizer) -> dict[str, int]:
    """A WordPiece vocabulary that is the same in every process: the special tokens, every character of the
    corpus (and ASCII letters, digits, punctuation) alone and as a `##` continuation, then its words by count (ties by spelling), up to `vocab_size`.
    (`tokenizers`' WordPieceTrainer is not reproducible: it creates the `##` pieces in hash-map order and
    breaks equal-count merges by id, so two fresh builds differed in ~30 of 522 tokens.)"""
    counts: Counter = Counter()
    for line in sentences():
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)))
    chars = sorted({c for word in counts for c in word} | set(string.ascii_lowercase + string.digits + string.punctuation))
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    tokens = list(dict.fromkeys(special + chars + [f"##{c}" for c in chars] + words))[:vocab_size]
    return {t: i for i, t in enumerate(tokens)}


def train_wordpiece(out_dir: Path, vocab_size: int = 1000, model_max_length: int = 128) -> None:
    """BERT-style: lowercase WordPiece with [CLS] A [SEP] (B [SEP]) templates, vocabulary from wordpiece_vocab."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    tok = Tokenizer(models.WordPiece(wordpiece_vocab(vocab_size, special, normalizer, pre_tokenizer), unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)
    fast.save_pretrained(str(out_dir))


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
