"""The generation loop (edgetool.runtime.generation) against transformers 4.57 `generate` as the oracle.

No export here: the runtime's own StepModels (DecoderOnlyModel, EncoderDecoderModel) run on a `run`
callable that executes tiny random-weight torch models (GPT-2 and BART, seeded) with the same graph
contract as the exported ONNX graphs (past_key_values.* in, present.* out, NumPy at the boundary). So
the loop, the processors and the cache bookkeeping are checked token for token against
`model.generate(...)` on the same weights; the e2e tests repeat this on real exported bundles.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetool.runtime.bundle import GraphSpec, TensorSpec
from edgetool.runtime.errors import UsageError
from edgetool.runtime.generation import (
    DecoderOnlyModel, EncoderDecoderModel, GenerationConfig, TextStream, TextStreamer, build_processors, generate,
    stream_generate, stream_text,
)

torch.set_num_threads(1)
VOCAB, HIDDEN, LAYERS, HEADS = 128, 32, 2, 2
HEAD_DIM = HIDDEN // HEADS
NEW = 32


# -- tiny models and their torch-backed `run` --------------------------------------------------------
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _cache(pairs):
    from transformers.cache_utils import DynamicCache

    cache = DynamicCache()
    for i, (k, v) in enumerate(pairs):
        cache.update(_t(k), _t(v), i)
    return cache


def _spec(name, *shape):
    return TensorSpec(name, "int64" if name.endswith(("ids", "mask")) else "float32", shape)


class TorchGPT2:
    """Graph 'decoder' of a decoder-only bundle, executed by transformers (the reference)."""

    def __init__(self, model):
        self.model = model
        names = [_spec("input_ids", "b", "s"), _spec("attention_mask", "b", "t"), _spec("position_ids", "b", "s")]
        names += [_spec(f"past_key_values.{i}.{kv}", "b", HEADS, "p", HEAD_DIM) for i in range(LAYERS) for kv in ("key", "value")]
        self.graph = GraphSpec("decoder", tuple(names), ())
        self.calls: list[dict] = []

    def __call__(self, graph: str, feeds: dict) -> dict:
        assert graph == "decoder"
        self.calls.append({k: v.shape for k, v in feeds.items()})
        cache = _cache((feeds[f"past_key_values.{i}.key"], feeds[f"past_key_values.{i}.value"]) for i in range(LAYERS))
        with torch.no_grad():
            out = self.model(input_ids=_t(feeds["input_ids"]), attention_mask=_t(feeds["attention_mask"]),
                             position_ids=_t(feeds["position_ids"]), past_key_values=cache, use_cache=True)
        res = {"logits": out.logits.numpy()}
        for i, layer in enumerate(out.past_key_values.layers):
            res[f"present.{i}.key"], res[f"present.{i}.value"] = layer.keys.numpy(), layer.values.numpy()
        return res


class TorchBart:
    """Graphs 'encoder', 'cross_kv' and 'decoder' of an encoder-decoder bundle, executed by transformers."""

    def __init__(self, model):
        self.model = model
        past = [_spec(f"past_key_values.{i}.{part}.{kv}", "b", HEADS, "p", HEAD_DIM)
                for i in range(LAYERS) for part in ("decoder", "encoder") for kv in ("key", "value")]
        self.graphs = {
            "encoder": GraphSpec("encoder", (_spec("input_ids", "b", "s"), _spec("attention_mask", "b", "s")), ()),
            "cross_kv": GraphSpec("cross_kv", (_spec("encoder_hidden_states", "b", "s", HIDDEN),
                                               _spec("encoder_attention_mask", "b", "s")), ()),
            "decoder": GraphSpec("decoder", (_spec("decoder_input_ids", "b", "n"),
                                             _spec("encoder_attention_mask", "b", "s"), *past), ()),
        }

    def __call__(self, graph: str, feeds: dict) -> dict:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache
        from transformers.modeling_outputs import BaseModelOutput

        m = self.model
        with torch.no_grad():
            if graph == "encoder":
                out = m.get_encoder()(input_ids=_t(feeds["input_ids"]), attention_mask=_t(feeds["attention_mask"]))
                return {"last_hidden_state": out.last_hidden_state.numpy()}
            if graph == "cross_kv":
                hidden = _t(feeds["encoder_hidden_states"])
                out = m(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                        attention_mask=_t(feeds["encoder_attention_mask"]),
                        decoder_input_ids=torch.zeros(hidden.shape[0], 1, dtype=torch.int64),
                        past_key_values=EncoderDecoderCache(DynamicCache(), DynamicCache()), use_cache=True)
                return {f"present.{i}.encoder.{kv}": t.numpy()
                        for i, layer in enumerate(out.past_key_values.cross_attention_cache.layers)
                        for kv, t in (("key", layer.keys), ("value", layer.values))}
            def part(p):
                return _cache((feeds[f"past_key_values.{i}.{p}.key"], feeds[f"past_key_values.{i}.{p}.value"])
                              for i in range(LAYERS))
            ids = _t(feeds["decoder_input_ids"])
            enc_len = feeds["past_key_values.0.encoder.key"].shape[2]
            # NaN encoder states: the decoder must read the cross cache, never recompute it.
            hidden = torch.full((ids.shape[0], enc_len, HIDDEN), float("nan"))
            out = m(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                    attention_mask=_t(feeds["encoder_attention_mask"]), decoder_input_ids=ids,
                    past_key_values=EncoderDecoderCache(part("decoder"), part("encoder")), use_cache=True)
            res = {"logits": out.logits.numpy()}
            for i, layer in enumerate(out.past_key_values.self_attention_cache.layers):
                res[f"present.{i}.decoder.key"], res[f"present.{i}.decoder.value"] = layer.keys.numpy(), layer.values.numpy()
            return res


@pytest.fixture(scope="module")
def gpt2():
    """(torch model, StepModel, recorder). Init range 0.5: random weights that do not repeat one token forever."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=128, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                                       bos_token_id=0, eos_token_id=127, initializer_range=0.5)).eval()
    run = TorchGPT2(model)
    return model, DecoderOnlyModel(run, run.graph), run


@pytest.fixture(scope="module")
def bart():
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    model = BartForConditionalGeneration(BartConfig(
        vocab_size=VOCAB, d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        init_std=0.3)).eval()  # bos 0, pad 1, eos 2 = decoder start = forced eos (BART's defaults)
    run = TorchBart(model)
    return model, EncoderDecoderModel(run, run.graphs)


def left_padded_prompts():
    """Two prompts of different lengths (4 and 9 tokens), left-padded with pad id 0."""
    rs = np.random.RandomState(1)
    ids = rs.randint(3, 120, size=(2, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    ids[0, :5], mask[0, :5] = 0, 0
    return ids, mask


def encoder_inputs():
    """Two source texts of 9 and 6 tokens (right-padded with BART's pad 1, as its tokenizer does)."""
    rs = np.random.RandomState(2)
    ids = rs.randint(3, 120, size=(2, 9)).astype(np.int64)
    ids[:, 0] = 0
    ids[0, -1] = ids[1, 5] = 2
    mask = np.ones_like(ids)
    ids[1, 6:], mask[1, 6:] = 1, 0
    return ids, mask


def hf_gpt2(model, ids, mask, **kw) -> np.ndarray:
    with torch.no_grad():
        return model.generate(input_ids=_t(ids), attention_mask=_t(mask), **kw).numpy()


def ours_gpt2(step_model, ids, mask, **kw) -> np.ndarray:
    return generate(step_model, {"attention_mask": mask}, ids, GenerationConfig().update(**kw))


def hf_bart(model, ids, mask, **kw) -> np.ndarray:
    with torch.no_grad():
        return model.generate(input_ids=_t(ids), attention_mask=_t(mask), **kw).numpy()


def ours_bart(model, step_model, ids, mask, prompt=None, **kw) -> np.ndarray:
    # As a pipeline does: the model's generation_config.json, then the call's options.
    cfg = GenerationConfig.from_dict(model.generation_config.to_dict()).update(**kw)
    return generate(step_model, {"input_ids": ids, "attention_mask": mask}, prompt, cfg)


def produced_token(step, ids, mask, row=0, index=4) -> int:
    """A token greedy search really produces (row `row`, new token `index`), to use as eos."""
    free = ours_gpt2(step, ids, mask, max_new_tokens=NEW, pad_token_id=0)
    return int(free[row, ids.shape[1] + index])


# -- decoder-only: token ids equal transformers generate -------------------------------------------
def test_gpt2_greedy_batched_left_padded(gpt2):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    kw = dict(max_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=127)
    ours = ours_gpt2(step, ids, mask, **kw)
    assert ours.tolist() == hf_gpt2(model, ids, mask, **kw).tolist()
    assert ours.shape == (2, 9 + NEW)
    assert len(set(ours[:, 9:].ravel().tolist())) > 8  # a model that really varies its output


def test_gpt2_eos_stops_each_row_and_pads(gpt2):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    eos = produced_token(step, ids, mask, row=0, index=4)
    kw = dict(max_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=eos)
    ours = ours_gpt2(step, ids, mask, **kw)
    assert ours.tolist() == hf_gpt2(model, ids, mask, **kw).tolist()
    new = ours[0, 9:].tolist()
    first = new.index(eos)
    assert first <= 4 and set(new[first + 1:]) <= {0}  # padded after its eos while the other row went on
    # several eos ids: the row stops at whichever comes first
    kw["eos_token_id"] = [produced_token(step, ids, mask, row=1, index=6), eos]
    assert ours_gpt2(step, ids, mask, **kw).tolist() == hf_gpt2(model, ids, mask, **kw).tolist()


BEAMS = {
    "beam3": dict(num_beams=3),
    "beam3-lp2": dict(num_beams=3, length_penalty=2.0),
    "beam4-early": dict(num_beams=4, early_stopping=True),
    "beam4-lp2-early": dict(num_beams=4, length_penalty=2.0, early_stopping=True),
    "beam4-never-lp0.5": dict(num_beams=4, length_penalty=0.5, early_stopping="never"),
    "beam2-never-lp2": dict(num_beams=2, length_penalty=2.0, early_stopping="never"),  # longest-length heuristic
    "beam4-return3": dict(num_beams=4, num_return_sequences=3),
}


@pytest.mark.parametrize("search", list(BEAMS))
def test_gpt2_beam_search(gpt2, search):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    for eos in (127, produced_token(step, ids, mask, row=0, index=6)):  # never produced / produced
        kw = dict(max_new_tokens=NEW, do_sample=False, pad_token_id=3, eos_token_id=eos, **BEAMS[search])
        assert ours_gpt2(step, ids, mask, **kw).tolist() == hf_gpt2(model, ids, mask, **kw).tolist(), eos


def test_gpt2_beam_outputs_padded_like_transformers(gpt2):
    """Returned hypotheses of different lengths are filled like transformers: `pad or eos[0]`, so a pad
    id of 0 gives the eos (a transformers quirk the ids must reproduce)."""
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    eos = produced_token(step, ids, mask, row=0, index=2)
    for pad in (0, 5):
        kw = dict(max_new_tokens=NEW, do_sample=False, num_beams=3, num_return_sequences=3, pad_token_id=pad,
                  eos_token_id=eos)
        ours = ours_gpt2(step, ids, mask, **kw)
        assert ours.tolist() == hf_gpt2(model, ids, mask, **kw).tolist()
        ends = [row.tolist().index(eos) if eos in row.tolist() else None for row in ours[:, 9:]]
        assert len(set(ends)) > 1  # hypotheses really have different lengths


PENALTIES = {
    "repetition": dict(repetition_penalty=1.3),
    "repetition-below-1": dict(repetition_penalty=0.7),
    "no-repeat-3gram": dict(no_repeat_ngram_size=3),
    "no-repeat-1gram": dict(no_repeat_ngram_size=1),
    "all": dict(repetition_penalty=1.3, no_repeat_ngram_size=2, min_new_tokens=10),
}


@pytest.mark.parametrize("penalty", list(PENALTIES))
def test_gpt2_penalties(gpt2, penalty):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    eos = produced_token(step, ids, mask, row=0, index=12)
    changed = []
    for beams in (1, 3):
        kw = dict(max_new_tokens=NEW, do_sample=False, num_beams=beams, pad_token_id=0, eos_token_id=eos)
        ours = ours_gpt2(step, ids, mask, **kw, **PENALTIES[penalty])
        assert ours.tolist() == hf_gpt2(model, ids, mask, **kw, **PENALTIES[penalty]).tolist(), beams
        changed.append(ours.tolist() != ours_gpt2(step, ids, mask, **kw).tolist())
    assert any(changed)  # the option really changed the result


def test_gpt2_min_new_tokens_holds_back_eos(gpt2):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    eos = produced_token(step, ids, mask, row=0, index=1)
    # min_length is replaced by min_new_tokens when both are given, as in transformers
    for extra in (dict(min_new_tokens=8), dict(min_length=30), dict(min_length=30, min_new_tokens=3)):
        kw = dict(max_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=eos, **extra)
        ours = ours_gpt2(step, ids, mask, **kw)
        assert ours.tolist() == hf_gpt2(model, ids, mask, **kw).tolist(), extra
    assert eos not in ours_gpt2(step, ids, mask, **{**kw, "min_new_tokens": 8})[0, 9:17].tolist()


def test_read_only_logits_are_copied_before_masking(gpt2):
    """The processors mask the loop's logits in place; logits an engine hands out read-only are copied first,
    and the ids are transformers' either way."""
    model, inner, _ = gpt2

    class ReadOnly:
        is_encoder_decoder = False
        start, reorder = inner.start, inner.reorder

        def step(self, state, new_tokens):
            logits = inner.step(state, new_tokens)
            logits.setflags(write=False)
            return logits

    ids, mask = left_padded_prompts()
    kw = dict(max_new_tokens=NEW, min_new_tokens=NEW, repetition_penalty=1.3, no_repeat_ngram_size=2, do_sample=False,
              pad_token_id=0, eos_token_id=127)
    expected = hf_gpt2(model, ids, mask, **kw).tolist()
    assert ours_gpt2(ReadOnly(), ids, mask, **kw).tolist() == expected == ours_gpt2(inner, ids, mask, **kw).tolist()


def test_gpt2_length_defaults_like_transformers(gpt2):
    """No length given: 20 new tokens (transformers' default max_length=20 means new tokens); a
    max_length given at call time counts the prompt."""
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    kw = dict(do_sample=False, pad_token_id=0, eos_token_id=127)
    ours = ours_gpt2(step, ids, mask, **kw)
    assert ours.shape == (2, 9 + 20) and ours.tolist() == hf_gpt2(model, ids, mask, **kw).tolist()
    ours = ours_gpt2(step, ids, mask, max_length=15, **kw)
    assert ours.shape == (2, 15) and ours.tolist() == hf_gpt2(model, ids, mask, max_length=15, **kw).tolist()


def test_step_model_contract(gpt2):
    """First step: the whole prompt; then one token per row with the cache growing by one, positions
    from the mask (left padding); beams multiply the rows."""
    model, step, run = gpt2
    ids, mask = left_padded_prompts()
    run.calls.clear()
    ours_gpt2(step, ids, mask, max_new_tokens=4, num_beams=3, pad_token_id=0)
    shapes = run.calls
    assert shapes[0]["input_ids"] == (6, 9) and shapes[0]["past_key_values.0.key"] == (6, HEADS, 0, HEAD_DIM)
    for n, call in enumerate(shapes[1:], start=1):
        assert call["input_ids"] == (6, 1) and call["attention_mask"] == (6, 9 + n)
        assert call["past_key_values.1.value"] == (6, HEADS, 9 + n - 1, HEAD_DIM)
    from edgetool.runtime.generation import position_ids
    assert position_ids(mask, 9)[0].tolist() == [1, 1, 1, 1, 1, 0, 1, 2, 3]
    assert position_ids(np.concatenate([mask, np.ones((2, 1), np.int64)], 1), 1).ravel().tolist() == [4, 9]


# -- encoder-decoder (BART) ------------------------------------------------------------------------
BART_SEARCHES = {
    "greedy": dict(),
    "beam3": dict(num_beams=3),
    "beam4-lp2-early": dict(num_beams=4, length_penalty=2.0, early_stopping=True),
    "beam4-never-return2": dict(num_beams=4, early_stopping="never", num_return_sequences=2),
    "penalties": dict(repetition_penalty=1.3, no_repeat_ngram_size=3, min_new_tokens=5),
    "beam3-penalties": dict(num_beams=3, repetition_penalty=1.3, no_repeat_ngram_size=2),
}


@pytest.mark.parametrize("search", list(BART_SEARCHES))
def test_bart_equals_transformers(bart, search):
    model, step = bart
    ids, mask = encoder_inputs()
    kw = dict(max_new_tokens=NEW, do_sample=False, **BART_SEARCHES[search])
    ours = ours_bart(model, step, ids, mask, **kw)
    assert ours.tolist() == hf_bart(model, ids, mask, **kw).tolist()
    assert ours[:, -1].tolist() == [2] * ours.shape[0]  # forced eos (BART's config) at max_length - 1


def test_bart_forced_and_suppressed_tokens(bart):
    """Forced BOS after the start token; the begin-suppressed token (one later: after the forced BOS)
    and a suppressed token chosen among those the model really produces."""
    model, step = bart
    ids, mask = encoder_inputs()
    forced = ours_bart(model, step, ids, mask, max_new_tokens=NEW, forced_bos_token_id=7)
    assert forced[:, 1].tolist() == [7, 7]
    first = int(forced[0, 2])
    common = int(np.bincount(forced[:, 3:].ravel()).argmax())
    for beams in (1, 3):
        kw = dict(max_new_tokens=NEW, num_beams=beams, forced_bos_token_id=7, begin_suppress_tokens=[first],
                  suppress_tokens=[common])
        ours = ours_bart(model, step, ids, mask, **kw)
        assert ours.tolist() == hf_bart(model, ids, mask, **kw).tolist(), beams
        assert ours[0, 2] != first and common not in ours.tolist()


def test_bart_eos_inside_the_budget(bart):
    """With eos set to a token the model produces early, rows end at different steps and are padded."""
    model, step = bart
    ids, mask = encoder_inputs()
    free = ours_bart(model, step, ids, mask, max_new_tokens=NEW, forced_eos_token_id=None)
    eos = next(int(t) for t in free[1, 2:] if t not in (1, 2))  # not pad, not the usual eos
    for beams in (1, 4):
        kw = dict(max_new_tokens=NEW, num_beams=beams, eos_token_id=eos, forced_eos_token_id=None)
        ours = ours_bart(model, step, ids, mask, **kw)
        assert ours.tolist() == hf_bart(model, ids, mask, **kw).tolist(), beams
        assert eos in ours[1, :-1].tolist()  # stopped before the budget


def test_bart_decoder_prompt_and_forced_decoder_ids(bart):
    """Whisper-style: several decoder start tokens, given as the prompt or as forced_decoder_ids; the
    begin-suppressed tokens apply right after them."""
    model, step = bart
    ids, mask = encoder_inputs()
    start = np.array([[2, 5, 9]], np.int64)
    with torch.no_grad():
        ref = model.generate(input_ids=_t(ids), attention_mask=_t(mask), decoder_input_ids=_t(np.repeat(start, 2, 0)),
                             max_new_tokens=12, begin_suppress_tokens=[31]).numpy()
    assert ours_bart(model, step, ids, mask, start, max_new_tokens=12, begin_suppress_tokens=[31]).tolist() == ref.tolist()
    forced = ours_bart(model, step, ids, mask, None, max_new_tokens=12, begin_suppress_tokens=[31],
                       forced_decoder_ids=[[1, 5], [2, 9]])
    assert forced.tolist() == ref.tolist()


def test_max_new_tokens_zero_returns_the_prompt(gpt2, bart):
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    assert ours_gpt2(step, ids, mask, max_new_tokens=0).tolist() == ids.tolist()
    model, bstep = bart
    eids, emask = encoder_inputs()
    assert ours_bart(model, bstep, eids, emask, max_new_tokens=0).tolist() == [[2], [2]]


# -- sampling --------------------------------------------------------------------------------------
def test_sampling_is_reproducible(gpt2):
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    kw = dict(max_new_tokens=NEW, do_sample=True, temperature=1.5, top_k=0, pad_token_id=0)
    a = ours_gpt2(step, ids, mask, seed=7, **kw)
    assert a.tolist() == ours_gpt2(step, ids, mask, seed=7, **kw).tolist()
    assert a.tolist() != ours_gpt2(step, ids, mask, seed=8, **kw).tolist()
    several = ours_gpt2(step, ids, mask, seed=7, num_return_sequences=3, **kw)
    assert several.shape == (6, 9 + NEW) and several[0].tolist() != several[1].tolist()
    assert (several[:3, :9] == ids[0]).all() and (several[3:, :9] == ids[1]).all()  # rows grouped per prompt
    warped = dict(kw, temperature=0.8, top_k=20, top_p=0.9)
    assert ours_gpt2(step, ids, mask, seed=3, **warped).tolist() == ours_gpt2(step, ids, mask, seed=3, **warped).tolist()


def test_top_k_1_sampling_is_greedy(gpt2, bart):
    model, step, _ = gpt2
    ids, mask = left_padded_prompts()
    kw = dict(max_new_tokens=NEW, pad_token_id=0)
    greedy = hf_gpt2(model, ids, mask, do_sample=False, **kw)
    assert ours_gpt2(step, ids, mask, do_sample=True, top_k=1, seed=1, **kw).tolist() == greedy.tolist()
    bmodel, bstep = bart
    eids, emask = encoder_inputs()
    ref = hf_bart(bmodel, eids, emask, max_new_tokens=NEW, do_sample=False)
    assert ours_bart(bmodel, bstep, eids, emask, max_new_tokens=NEW, do_sample=True, top_k=1).tolist() == ref.tolist()


def test_beam_sampling_is_reproducible(gpt2):
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    kw = dict(max_new_tokens=12, do_sample=True, num_beams=3, num_return_sequences=2, top_k=10, pad_token_id=0)
    a = ours_gpt2(step, ids, mask, seed=11, **kw)
    assert a.shape[0] == 4 and a.tolist() == ours_gpt2(step, ids, mask, seed=11, **kw).tolist()


def test_sampler_follows_the_distribution():
    from edgetool.runtime.generation.search import _sample

    probs = np.array([0.5, 0.0, 0.3, 0.2, 0.0])
    scores = np.log(np.where(probs > 0, probs, 1e-300)).astype(np.float32)
    scores[probs == 0] = -np.inf
    rng = np.random.default_rng(0)
    draws = _sample(np.repeat(scores[None], 20000, axis=0), rng)
    freq = np.bincount(draws, minlength=5) / draws.size
    assert freq[1] == freq[4] == 0 and np.abs(freq - probs).max() < 0.015


def test_topk_breaks_ties_like_a_stable_sort():
    from edgetool.runtime.generation.search import _topk

    rs = np.random.RandomState(0)
    for k, n in ((3, 10), (6, 400), (8, 1000)):
        x = rs.randint(0, 5, size=(4, n)).astype(np.float32)  # many ties, also at the k-th place
        x[0, :] = -np.inf
        x[0, 7] = 1.0
        values, idx = _topk(x, k)
        expected = np.argsort(-x, axis=-1, kind="stable")[:, :k]
        assert idx.tolist() == expected.tolist() and values.tolist() == np.take_along_axis(x, expected, -1).tolist()


# -- processors: order and arithmetic against transformers' own chain --------------------------------
CHAINS = [
    dict(repetition_penalty=1.5, no_repeat_ngram_size=2, min_new_tokens=3),
    dict(do_sample=True, temperature=0.7, top_k=5, repetition_penalty=1.2),
    dict(do_sample=True, top_p=0.6, temperature=1.7, no_repeat_ngram_size=3),
    dict(do_sample=True, top_k=4, top_p=0.5, num_beams=3),  # beams keep >= 2 tokens
    dict(forced_bos_token_id=9, suppress_tokens=[3, 4, 500], begin_suppress_tokens=[5]),
    dict(forced_eos_token_id=[2, 6], min_length=40, repetition_penalty=0.8),
    dict(do_sample=True, temperature=1.5, top_k=0, min_p=0.2),
    dict(do_sample=True, top_k=30, top_p=0.9, min_p=0.6, num_beams=3),  # min_p last; beams keep >= 2 tokens
]


@pytest.mark.parametrize("options", CHAINS, ids=lambda o: "-".join(o))
def test_processor_chain_equals_transformers(gpt2, options):
    from transformers import GenerationConfig as HFConfig
    from transformers.generation.logits_process import LogitsProcessorList

    model = gpt2[0]
    rs = np.random.RandomState(3)
    scores = (rs.randn(3, VOCAB) * 3).astype(np.float32)
    steps = [(1, 1), (1, 2), (4, 4), (4, 6)]  # (prompt length, current length): first and later steps
    for prompt_len, length in steps:
        ids = rs.randint(0, 8, size=(3, length))  # small ids: repeats for the penalties and n-grams
        cfg = GenerationConfig().update(eos_token_id=[2, 6], max_new_tokens=3, **options)
        max_length, min_length = cfg.lengths(prompt_len)
        hf = HFConfig(eos_token_id=[2, 6], max_length=max_length, **options)
        hf.min_length = min_length
        model._prepare_special_tokens(hf, kwargs_has_attention_mask=True, device="cpu")
        theirs = model._get_logits_processor(hf, input_ids_seq_length=prompt_len, encoder_input_ids=_t(ids),
                                             logits_processor=LogitsProcessorList(), device="cpu")
        ours = build_processors(cfg, prompt_len, max_length, min_length)
        assert [type(p).__name__ for p in ours] and len(ours) == len(theirs)
        expected = theirs(_t(ids), _t(scores.copy())).numpy()
        got = ours(ids.astype(np.int64), scores.copy())
        assert np.array_equal(np.isinf(got), np.isinf(expected)), (options, ids.shape)
        np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(expected)], rtol=1e-6)


# -- streaming -------------------------------------------------------------------------------------
def test_stream_generate_yields_the_generated_tokens(gpt2):
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    eos = produced_token(step, ids, mask, row=0, index=4)
    for kw in (dict(do_sample=False), dict(do_sample=True, seed=5)):
        cfg = GenerationConfig().update(max_new_tokens=NEW, pad_token_id=0, eos_token_id=eos, **kw)
        full = generate(step, {"attention_mask": mask}, ids, cfg)
        streamed = np.stack(list(stream_generate(step, {"attention_mask": mask}, ids, cfg)), axis=1)
        assert streamed.tolist() == full[:, 9:].tolist()
        seen, ended = [], []
        generate(step, {"attention_mask": mask}, ids, cfg, streamer=seen.append)
        assert np.stack(seen, axis=1).tolist() == full[:, 9:].tolist()

        class Collect:
            def put(self, tokens, seen=seen):
                seen.append(tokens)

            def end(self, ended=ended):
                ended.append(True)
        seen.clear()
        generate(step, {"attention_mask": mask}, ids, cfg, streamer=Collect())
        assert len(seen) == full.shape[1] - 9 and ended == [True]


def test_stream_errors_are_raised_not_swallowed():
    class Broken:
        is_encoder_decoder = False

        def start(self, inputs, expand=1):
            return {}

        def step(self, state, new_tokens):
            raise RuntimeError("engine failed")

        def reorder(self, state, rows):
            pass

    stream = stream_generate(Broken(), {}, np.array([[1, 2]]), GenerationConfig(max_new_tokens=3))
    with pytest.raises(RuntimeError, match="engine failed"):
        next(stream)


class ByteTokenizer:
    """Byte-level tokens (like GPT-2's BPE): characters span tokens, decoding replaces partial ones."""

    def __init__(self, text: str):
        self.ids = list(text.encode("utf-8"))

    def decode(self, tokens, **_):
        return bytes(tokens).decode("utf-8", errors="replace")


@pytest.mark.parametrize("text", ["Hello wörld, this is a test.\nNew line 深度学习 ok ", "naïve café 😀 end"])
def test_text_stream_is_transformers_text_streamer(text):
    from transformers import TextStreamer as HFStreamer

    tok = ByteTokenizer(text)
    hf_pieces: list[str] = []

    class Capture(HFStreamer):
        def on_finalized_text(self, piece, stream_end=False):
            hf_pieces.append(piece)

    hf = Capture(tok, skip_prompt=False)
    ours: list[str] = []
    streamer = TextStreamer(tok.decode, on_text=lambda piece, stream_end=False: ours.append(piece))
    for token in tok.ids:
        hf.put(torch.tensor([token]))
        streamer.put(np.array([token]))
    hf.end()
    streamer.end()
    assert "".join(ours) == text and [p for p in hf_pieces if p] == [p for p in ours if p]
    assert "\ufffd" not in "".join(ours)
    assert list(stream_text(iter(tok.ids), tok.decode)) == [p for p in ours if p]
    shown = ""
    stream = TextStream(tok.decode)
    for token in tok.ids:  # never shows a word that is not complete yet
        shown += stream.push(token)
        assert text.startswith(shown) and (not shown or shown[-1] in " \n" or "\u4e00" <= shown[-1] <= "\u9fff")


# -- bad inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, words", [
    (dict(max_new_tokens=-1), ["max_new_tokens", "-1"]),
    (dict(max_new_tokens=2.5), ["max_new_tokens", "2.5"]),
    (dict(num_beams=0), ["num_beams", "0"]),
    (dict(min_new_tokens=-3), ["min_new_tokens", "-3"]),
    (dict(top_k=-1), ["top_k", "-1"]),
    (dict(no_repeat_ngram_size=-2), ["no_repeat_ngram_size"]),
    (dict(do_sample=True, temperature=0.0), ["temperature", "do_sample=False"]),
    (dict(top_p=1.5), ["top_p", "1.5"]),
    (dict(repetition_penalty=0), ["repetition_penalty"]),
    (dict(early_stopping="sometimes"), ["early_stopping", "sometimes"]),
    (dict(num_return_sequences=2), ["num_return_sequences", "2"]),
    (dict(num_beams=2, num_return_sequences=3), ["num_return_sequences (3)", "num_beams (2)"]),
    (dict(eos_token_id=[5, -1]), ["eos_token_id", "-1"]),
    (dict(do_sample="yes"), ["do_sample", "yes"]),
    (dict(max_new_tokns=5), ["max_new_tokns", "Did you mean 'max_new_tokens'"]),
    (dict(min_p=1.5), ["min_p", "1.5", "between 0 and 1"]),
    (dict(min_p=-0.1), ["min_p", "-0.1"]),
    (dict(stop_strings=""), ["stop_strings", "non-empty", "''"]),
    (dict(stop_strings=["end", ""]), ["stop_strings", "non-empty", "['end', '']"]),
    (dict(stop_strings=["end", 3]), ["stop_strings", "3"]),
    (dict(stop_strings=[]), ["stop_strings", "[]"]),
])
def test_bad_options_are_clear_errors(options, words):
    with pytest.raises(UsageError) as err:
        GenerationConfig().update(**options)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_calls_are_clear_errors(gpt2):
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    cfg = GenerationConfig().update(max_new_tokens=4, pad_token_id=0)
    with pytest.raises(UsageError, match=r"num_beams \(200\).*\(128 tokens\)"):
        generate(step, {"attention_mask": mask}, ids, cfg.update(num_beams=200))
    with pytest.raises(UsageError, match="left padding"):
        generate(step, {"attention_mask": mask[:, ::-1]}, ids, cfg)
    with pytest.raises(UsageError, match="attention_mask"):
        generate(step, {"attention_mask": mask[:, 1:]}, ids, cfg)
    with pytest.raises(UsageError, match="integer token ids"):
        generate(step, {"attention_mask": mask}, ids.astype(np.float32), cfg)
    with pytest.raises(UsageError, match="9 tokens but max_length is 5"):
        generate(step, {"attention_mask": mask}, ids, GenerationConfig().update(max_length=5))
    with pytest.raises(UsageError, match="beam search"):
        generate(step, {"attention_mask": mask}, ids, cfg.update(num_beams=2), streamer=print)
    with pytest.raises(UsageError, match="beam search"):
        stream_generate(step, {"attention_mask": mask}, ids, cfg.update(num_beams=2))
    with pytest.raises(UsageError, match="forced_bos_token_id 300"):
        generate(step, {"attention_mask": mask}, ids, cfg.update(forced_bos_token_id=300))
    with pytest.raises(UsageError, match="index 2 is missing"):
        GenerationConfig(decoder_start_token_id=2, forced_decoder_ids=[[1, 5], [3, 7]]).decoder_prompt()
    with pytest.raises(UsageError, match="one sequence"):
        TextStreamer(str).put(np.array([1, 2]))
    with pytest.raises(UsageError, match=r"stop_strings \['end'\] need the tokenizer"):
        generate(step, {"attention_mask": mask}, ids, cfg.update(stop_strings="end"))


# -- stop strings ----------------------------------------------------------------------------------
def test_stop_strings_equal_transformers_criteria(tmp_path):
    """StopStrings on token texts against transformers' StopStringCriteria on the same ids: stop strings
    cut from the end of each sequence's text (with 0-3 characters after them), so some overlap the last
    token, some end before it, some straddle several tokens."""
    from transformers import AutoTokenizer
    from transformers.generation.stopping_criteria import StopStringCriteria

    from edgetool.export.reference.generation import train_gpt2_tokenizer
    from edgetool.runtime.generation.stopping import StopStrings
    from edgetool.runtime.preprocess.text import TextTokenizer

    train_gpt2_tokenizer(tmp_path)
    hf, ours = AutoTokenizer.from_pretrained(str(tmp_path)), TextTokenizer(tmp_path / "tokenizer.json", {})
    texts, indices = StopStringCriteria.clean_tokenizer_vocab(hf)
    assert [ours.token_text(i) for i in indices] == list(texts)
    rs = np.random.RandomState(0)
    results = []
    for _ in range(200):
        ids = rs.randint(0, len(hf), size=(2, 8))
        text = "".join(ours.token_text(i) for i in ids[0])
        k, j = rs.randint(1, 6), rs.randint(0, 4)
        stop = [text[len(text) - k - j:len(text) - j] or "x", "never there"]
        got = StopStrings(stop, ours.token_text)(ids)
        assert got.tolist() == StopStringCriteria(hf, stop)(_t(ids), None).tolist(), (stop, ids)
        results.append(bool(got[0]))
    assert 20 < sum(results) < 180  # both outcomes are exercised


def test_stop_strings_stop_each_row(gpt2):
    """generate() with a stop string: a row stops once its text holds it (greedy, sampling, beams),
    the other rows go on; with an eos the stopped row is padded, as transformers does."""
    _, step, _ = gpt2
    ids, mask = left_padded_prompts()
    text = {i: f"<{i}>" for i in range(VOCAB)}
    token_text = text.__getitem__
    free = ours_gpt2(step, ids, mask, max_new_tokens=NEW, pad_token_id=0, eos_token_id=127)
    stop = text[int(free[0, 9 + 5])]  # the 6th new token of row 0
    first = next(i for i in range(9, 9 + NEW) if text[int(free[0, i])] == stop)
    cfg = GenerationConfig().update(max_new_tokens=NEW, pad_token_id=0, eos_token_id=127, stop_strings=[stop])
    out = generate(step, {"attention_mask": mask}, ids, cfg, token_text=token_text)
    assert out[0, :first + 1].tolist() == free[0, :first + 1].tolist() and (out[0, first + 1:] == 0).all()
    row1_stop = [i for i in range(9, 9 + NEW) if text[int(free[1, i])] == stop]
    end = row1_stop[0] + 1 if row1_stop else free.shape[1]
    assert out[1, :end].tolist() == free[1, :end].tolist()
    streamed = list(stream_generate(step, {"attention_mask": mask}, ids, cfg, token_text=token_text))
    assert np.stack(streamed, axis=1).tolist() == out[:, 9:].tolist()


def test_config_from_generation_config_json():
    saved = {"bos_token_id": 0, "eos_token_id": [2, 3], "forced_eos_token_id": 2, "num_beams": 4, "max_length": 142,
             "no_repeat_ngram_size": 3, "transformers_version": "4.57.6", "_from_model_config": True,
             "forced_decoder_ids": [[1, None], [2, 50359]], "suppress_tokens": [1, 2]}
    cfg = GenerationConfig.from_dict(saved)
    assert cfg.eos_ids == [2, 3] and cfg.num_beams == 4 and cfg.suppress_tokens == (1, 2)
    assert cfg.lengths(5) == (142, 0)  # a max_length the model chose is a total length
    assert cfg.update(max_new_tokens=10).lengths(5) == (15, 0)
    assert cfg.update(min_new_tokens=4).lengths(5) == (142, 9)
    assert "max_length_given" not in cfg.to_dict() and GenerationConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("logits_axis", [1, "sequence"])
def test_fused_decoder_model_sizes_logits_from_the_graph(logits_axis):
    """The fused graph returns the last position's logits ([batch, 1, vocab]); bundles exported before that return
    every position's ([batch, sequence, vocab]). The bound runner is handed an array of the graph's shape either way,
    and the loop gets the last position's row."""
    from edgetool.runtime.generation import FusedDecoderModel

    kv = [TensorSpec(f"past_key_values.0.{k}", "float32", ("batch", 1, "past_sequence", 16)) for k in ("key", "value")]
    spec = GraphSpec("decoder_fused", (TensorSpec("input_ids", "int64", ("batch", "sequence")), *kv),
                     (TensorSpec("logits", "float32", ("batch", logits_axis, 7)),))
    handed = []

    def bind(buffers, shared):
        def runner(feeds, out):
            logits = out["logits"]
            handed.append(logits.shape)
            logits[:] = np.arange(logits.shape[1] * 7, dtype=np.float32).reshape(1, -1, 7)
            return out
        return runner

    model = FusedDecoderModel(None, spec, portable=None, bind=bind)
    state = model.start({"attention_mask": np.ones((1, 3), np.int64)})
    first = model.step(state, np.array([[4, 5, 6]]))
    n = 1 if logits_axis == 1 else 3
    assert handed == [(1, n, 7)]
    np.testing.assert_array_equal(first, np.arange((n - 1) * 7, n * 7, dtype=np.float32)[None])
