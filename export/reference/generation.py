"""Small seeded reference models for the generative tasks (GPT-2, BART, T5, ViT+GPT-2)."""
from __future__ import annotations

from pathlib import Path

from .corpus import sentences

VOCAB = 400


def train_gpt2_tokenizer(out: Path, model_max_length: int = 128) -> None:
    """Byte-level BPE with GPT-2's single special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(sentences(), trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = GPT2TokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                             unk_token="<|endoftext|>", model_max_length=model_max_length)
    fast.save_pretrained(str(out))


def _no_forced_tokens(model) -> None:
    """Random weights never emit eos on their own: keep generation configs explicit and simple."""
    gc = model.generation_config
    gc.forced_bos_token_id = None
    gc.forced_eos_token_id = None
    gc.max_length = 64
    gc.min_length = 0
    gc.num_beams = 1
    gc.no_repeat_ngram_size = 0
    gc.early_stopping = False
    gc.length_penalty = 1.0


def gpt2_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    train_gpt2_tokenizer(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2, initializer_range=0.2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(cfg).eval()
    model.generation_config.pad_token_id = tok.eos_token_id
    model.save_pretrained(str(out), safe_serialization=True)


def _bart(out: Path, seed: int) -> None:
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from .tokenizers_train import train_byte_bpe

    train_byte_bpe(out, vocab_size=VOCAB, kind="roberta")
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                     init_std=0.2, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                     eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id,
                     forced_bos_token_id=None, forced_eos_token_id=None)
    model = BartForConditionalGeneration(cfg).eval()
    _no_forced_tokens(model)
    model.save_pretrained(str(out), safe_serialization=True)


def bart_tiny(out: Path, seed: int) -> None:
    _bart(out, seed)


def bart_tiny_text2text(out: Path, seed: int) -> None:
    _bart(out, seed)


def t5_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from .tokenizers_train import save_unigram

    save_unigram(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                   relative_attention_num_buckets=8, initializer_factor=2.0, pad_token_id=tok.pad_token_id,
                   eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    model = T5ForConditionalGeneration(cfg).eval()
    _no_forced_tokens(model)
    model.save_pretrained(str(out), safe_serialization=True)


def vit_gpt2_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import (AutoTokenizer, GPT2Config, ViTConfig, ViTImageProcessor, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel)

    train_gpt2_tokenizer(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    enc = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, initializer_range=0.2)
    dec = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2, initializer_range=0.2,
                     add_cross_attention=True, is_decoder=True, bos_token_id=tok.bos_token_id,
                     eos_token_id=tok.eos_token_id)
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id = tok.bos_token_id
    cfg.pad_token_id = tok.eos_token_id
    cfg.eos_token_id = tok.eos_token_id
    model = VisionEncoderDecoderModel(cfg).eval()
    model.generation_config.decoder_start_token_id = tok.bos_token_id
    model.generation_config.pad_token_id = tok.eos_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.max_length = 64
    model.save_pretrained(str(out), safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(out))
