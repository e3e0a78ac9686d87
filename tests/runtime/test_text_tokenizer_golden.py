"""Text tokenization with the manifest's tokenizer settings against transformers 4.57 (golden, no torch).

tests/golden_data/text.json: two tokenizers trained by make_golden.py (lower-case WordPiece with
[CLS]/[SEP] and token types; byte-level BPE with RoBERTa's template and no token types), the settings
the exporter writes for them (one BPE variant padding on the left), and what the transformers
tokenizer returned for batches (padding=True, truncation=True), pairs and max_length, and for decode.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import GOLDEN, golden_json

from edgetool.runtime.preprocess.text import TextTokenizer

DOC = golden_json("text")


def tokenizer(variant: str) -> TextTokenizer:
    t = DOC["tokenizers"][variant]
    return TextTokenizer(GOLDEN / t["file"], t["settings"])


@pytest.mark.parametrize("case", DOC["encode"], ids=lambda c: f"{c['tokenizer']}-{len(c['texts'])}-{c['max_length']}"
                         + ("-pairs" if c["pairs"] else ""))
def test_encode_matches_transformers(case):
    ours = tokenizer(case["tokenizer"]).encode(case["texts"], case["pairs"], max_length=case["max_length"]).arrays
    assert sorted(ours) == sorted(case["arrays"])
    for name, ref in case["arrays"].items():
        assert ours[name].dtype == np.int64
        assert ours[name].tolist() == ref, name


@pytest.mark.parametrize("case", DOC["decode"], ids=lambda c: f"{c['tokenizer']}-{len(c['ids'])}-{c['skip_special_tokens']}")
def test_decode_matches_transformers(case):
    assert tokenizer(case["tokenizer"]).decode(case["ids"], skip_special_tokens=case["skip_special_tokens"]) == case["text"]
