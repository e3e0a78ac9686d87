"""Decoder LLM families (export/families/generation.py DECODER_TYPES): each is built from a tiny random
config saved with save_pretrained plus a tokenizer trained here, exported once from that local directory
(ONNX target; OpenVINO reads the ONNX), and its greedy
`text-generation` output on ONNX Runtime and on OpenVINO equals the transformers 4.57 pipeline's on the
same weights, for more new tokens than the sliding windows (8) so local attention is exercised.
Beam search on a left-padded batch equals `generate`.

Adding a family: one line in FAMILIES (and its DecoderType)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from edgetool.runtime import pipeline

BACKENDS = ["onnxruntime", "openvino"]
# grouped-query attention: 4 query heads share 2 key/value heads (the cache holds 2)
GQA = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
           max_position_embeddings=128, initializer_range=0.2)
FAMILIES = {  # model type -> (transformers config class, its arguments)
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=2, n_positions=128, initializer_range=0.2)),
    "gpt_neox": ("GPTNeoXConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                       max_position_embeddings=128, initializer_range=0.2)),
    "opt": ("OPTConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
                              max_position_embeddings=128, word_embed_proj_dim=32, init_std=0.2)),
    "bloom": ("BloomConfig", dict(hidden_size=32, n_layer=2, n_head=4, initializer_range=0.2)),
    # head_dim 16: ONNX Runtime's fused decoder (GroupQueryAttention needs multiples of 16) is exported too
    "llama": ("LlamaConfig", dict(GQA, head_dim=16, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 16})),
    "qwen2": ("Qwen2Config", dict(GQA, head_dim=16)),
    "qwen3": ("Qwen3Config", dict(GQA, head_dim=16)),
    "mistral": ("MistralConfig", dict(GQA, head_dim=16, sliding_window=8)),
    "phi3": ("Phi3Config", dict(GQA, head_dim=16)),
    "gemma": ("GemmaConfig", dict(GQA, head_dim=16)),
    "gemma2": ("Gemma2Config", dict(GQA, head_dim=16, sliding_window=8, final_logit_softcapping=3.0,
                                    attn_logit_softcapping=2.0)),
    "falcon": ("FalconConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, multi_query=True,
                                    new_decoder_architecture=False, initializer_range=0.2)),
    "granite": ("GraniteConfig", dict(GQA, head_dim=16, embedding_multiplier=4.0, logits_scaling=0.25, residual_multiplier=0.9,
                                      attention_multiplier=0.2)),
    "smollm3": ("SmolLM3Config", dict(GQA, head_dim=16, no_rope_layer_interval=2)),
}
# configurations of a family above that take another path through the export: name "type+what" -> config
VARIANTS = {
    # sliding-window layers after global ones (max_window_layers) / on the NoPE layers: a window per fused layer
    "qwen2+sliding": ("Qwen2Config", dict(GQA, head_dim=16, use_sliding_window=True, sliding_window=8, max_window_layers=1)),
    "smollm3+sliding": ("SmolLM3Config", dict(GQA, head_dim=16, no_rope_layer_interval=2, use_sliding_window=True,
                                              sliding_window=8)),
}


def _family(name: str) -> str:  # a variant's model type
    return name.split("+")[0]

# every checkpoint's tokenizer gets this chat template (special tokens as variables, a generation prompt)
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] | trim }}{{ eos_token }}\n"
                 "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
PROMPT = "The weather was"
NEW = 24  # prompt (3-4 tokens) + 24 > the sliding windows of 8


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from edgetool.export.reference.generation import train_gpt2_tokenizer

    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("tokenizer")
    train_gpt2_tokenizer(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer_dir):
    import transformers

    made = {}

    def make(model_type: str):
        if model_type not in made:
            out = tmp_path_factory.mktemp(model_type)
            for f in tokenizer_dir.iterdir():
                shutil.copy(f, out / f.name)
            tok = transformers.AutoTokenizer.from_pretrained(str(out))
            cls, kwargs = {**FAMILIES, **VARIANTS}[model_type]
            cfg = getattr(transformers, cls)(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                             eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id, **kwargs)
            assert cfg.model_type == _family(model_type)
            torch.manual_seed(0)
            model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
            model.generation_config.pad_token_id = tok.eos_token_id
            model.save_pretrained(str(out), safe_serialization=True)
            made[model_type] = out
        return made[model_type]

    return make


@pytest.fixture(scope="module")
def family_bundle(checkpoint, bundle_dir):
    # the default target: OpenVINO runs the bundle's ONNX itself, which saves an IR compile per family
    return lambda model_type: bundle_dir("text-generation", model=checkpoint(model_type))


@pytest.fixture(scope="module")
def hf(checkpoint):
    """The transformers pipeline on the checkpoint, with the attention the export uses."""
    from transformers import pipeline as hf_pipeline

    from edgetool.export.families.generation import DECODER_TYPES

    attn = {t.model_type: t.attn_implementation for t in DECODER_TYPES}
    made = {}

    def get(model_type):
        if model_type not in made:
            kw = {"attn_implementation": attn[_family(model_type)]} if attn.get(_family(model_type)) else {}
            made[model_type] = hf_pipeline("text-generation", model=str(checkpoint(model_type)), device="cpu",
                                           model_kwargs=kw)
        return made[model_type]

    return get


def test_every_decoder_type_is_tested():
    from edgetool.export.families.generation import DECODER_TYPES

    assert sorted(t.model_type for t in DECODER_TYPES) == sorted(FAMILIES)


@pytest.mark.family("text-generation", "decoder")
@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_greedy_text_equals_transformers_pipeline(family_bundle, hf, model_type):
    root = family_bundle(model_type)
    kw = dict(max_new_tokens=NEW, do_sample=False)
    theirs = hf(model_type)(PROMPT, **kw)
    assert len(theirs[0]["generated_text"]) > len(PROMPT) + 10  # really generated
    for backend in BACKENDS:
        ours = pipeline(root, backend=backend)
        assert ours(PROMPT, **kw) == theirs, backend
        assert ours(PROMPT, return_full_text=False, **kw) == hf(model_type)(PROMPT, return_full_text=False, **kw)


@pytest.mark.parametrize("model_type", ["llama", "mistral", "gemma2", "falcon", "bloom"])
def test_beam_search_left_padded_equals_generate(family_bundle, hf, model_type):
    from edgetool.runtime.generation import generate

    ref = hf(model_type)
    tok, model = ref.tokenizer, ref.model
    tok.padding_side, tok.pad_token = "left", tok.eos_token
    enc = tok(["I love", "The quick brown fox jumps over the lazy dog and"], return_tensors="pt", padding=True)
    with torch.no_grad():
        theirs = model.generate(**enc, do_sample=False, max_new_tokens=12, num_beams=3, pad_token_id=tok.eos_token_id)
    arrays = {k: v.numpy() for k, v in enc.items()}
    for backend in BACKENDS:
        pipe = pipeline(family_bundle(model_type), backend=backend)
        cfg = pipe.generation_config(max_new_tokens=12, do_sample=False, num_beams=3)
        ours = generate(pipe.model, {"attention_mask": arrays["attention_mask"]}, arrays["input_ids"], cfg)
        assert ours.tolist() == theirs.tolist(), backend


@pytest.mark.parametrize("model_type,appends,blocks", [  # blocks: (onnxruntime, openvino) cache buffer growth
    ("llama", True, (32, 32)), ("qwen3", True, (32, 32)), ("gpt2", False, (None, 32)),
    # sliding windows keep a contiguous cache (the runtime appends the new positions itself)
    ("mistral", True, (None, None)), ("gemma2", False, (None, None))])
def test_grouped_attention_never_joins_the_cache(family_bundle, model_type, appends, blocks):
    """Grouped-query decoders (sdpa) are traced with export/attention.py: the graph returns only the new
    positions' keys/values, no Concat reads a past input, and the runtime's block buffers hold the cache
    on every engine; the others (MHA, Gemma 2's eager soft-capping) keep the whole-cache contract. The
    greedy/beam tests above prove both answer like transformers."""
    import onnx

    from edgetool.runtime import pipeline
    from edgetool.runtime.bundle import Bundle

    path = family_bundle(model_type)
    spec = Bundle.load(path).graphs["decoder"]
    assert {t.shape[2] for t in spec.outputs if t.name.startswith("present.")} == {"sequence" if appends else "total_sequence"}
    graph = onnx.load(str(path / "onnx" / "fp32" / "decoder.onnx")).graph
    pasts = {i.name for i in graph.input if i.name.startswith("past_key_values.")}
    joins = [n for n in graph.node if n.op_type == "Concat" and pasts & set(n.input)]
    assert bool(joins) != appends, [n.name for n in joins]
    for backend, block in zip(("onnxruntime", "openvino"), blocks):
        model = pipeline(path, backend=backend).model
        assert getattr(model, "portable", model).cache_block == block, backend  # the fused decoder's fallback


FUSED = ["llama", "qwen2", "qwen3", "mistral", "phi3", "smollm3", "gemma", "gemma2", "granite"]  # the families whose ONNX Runtime artifact is the fused decoder (export/fused_decoder.py)


@pytest.mark.parametrize("model_type", FUSED)
def test_fused_decoder_runs_on_onnxruntime_only(family_bundle, model_type):
    """ONNX Runtime runs the fused graph (11-18 nodes a layer, GroupQueryAttention writing one cache buffer in place);
    OpenVINO runs the portable graph. The greedy test above compares both with transformers."""
    import onnx

    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.generation import FusedDecoderModel

    path = family_bundle(model_type)
    bundle = Bundle.load(path)
    assert {a.graph for a in bundle.artifacts} == {"decoder", "decoder_fused"}
    fused = next(a for a in bundle.artifacts if a.graph == "decoder_fused")
    assert fused.options["backends"] == ["onnxruntime"]
    ops = [node.op_type for node in onnx.load(str(path / fused.path)).graph.node]
    portable = onnx.load(str(path / "onnx" / "fp32" / "decoder.onnx")).graph.node
    assert ops.count("GroupQueryAttention") == 2 and len(ops) * 3 < len(portable), (ops, len(portable))
    logits = next(t for t in bundle.graphs["decoder_fused"].outputs if t.name == "logits")
    assert logits.shape[1] == 1  # the last position's only: no LM head over the whole prompt
    ort = pipeline(path, backend="onnxruntime")
    assert isinstance(ort.model, FusedDecoderModel) and ort.model.bind is not None
    assert set(ort.engines) == {"decoder", "decoder_fused"}
    ort(PROMPT, max_new_tokens=3, do_sample=False)
    assert not ort.engines["decoder"].opened  # the portable session waits for a padded batch
    from edgetool.runtime.generation import generate

    ids, mask = np.array([[0, 5, 6], [7, 8, 9]]), np.array([[0, 1, 1], [1, 1, 1]])  # left-padded rows
    generate(ort.model, {"attention_mask": mask}, ids, ort.generation_config(max_new_tokens=2, do_sample=False))
    assert ort.engines["decoder"].opened
    ov = pipeline(path, backend="openvino")
    assert set(ov.engines) == {"decoder"} and not isinstance(ov.model, FusedDecoderModel)
    report = bundle.manifest.parity["onnxruntime/fp32"]
    assert {o["graph"] for o in report.report["outputs"]} == {"decoder", "decoder_fused"} and report.passed
    from edgetool.check import golden, parity

    ov_report = parity.check(bundle, golden.load(bundle), "openvino", "fp32", reference_label="torch")
    assert {o["graph"] for o in ov_report["outputs"]} == {"decoder"} and ov_report["passed"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sliding_window_layers_fused_equal_transformers(family_bundle, hf, variant):
    """Sliding-window layers among global ones: the fused graph gives each GroupQueryAttention its layer's window
    (transformers' layer_types), and the greedy text, past the window, is the transformers pipeline's on ONNX
    Runtime (fused) and OpenVINO (portable)."""
    import onnx

    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.generation import FusedDecoderModel

    root = family_bundle(variant)
    fused = next(a for a in Bundle.load(root).artifacts if a.graph == "decoder_fused")
    windows = [next(a.i for a in node.attribute if a.name == "local_window_size")
               for node in onnx.load(str(root / fused.path)).graph.node if node.op_type == "GroupQueryAttention"]
    assert windows == [-1, 8]
    kw = dict(max_new_tokens=NEW, do_sample=False)
    theirs = hf(variant)(PROMPT, **kw)
    assert len(theirs[0]["generated_text"]) > len(PROMPT) + 10
    for backend in BACKENDS:
        ours = pipeline(root, backend=backend)
        assert isinstance(ours.model, FusedDecoderModel) == (backend == "onnxruntime")
        assert ours(PROMPT, **kw) == theirs, backend


def test_fused_decoder_is_left_to_onnxruntime_by_triton_and_tensorrt(family_bundle, tmp_path):
    """Triton per-graph models: the fused decoder only under the onnxruntime backend; TensorRT engine plans (made
    on the device, planned without a GPU) build the portable decoder only."""
    from edgetool.runtime.backends.tensorrt.bundle_build import TrtBuildOptions, plan_builds
    from edgetool.runtime.bundle import Bundle
    from edgetool.serve.repository import RepositoryOptions, write_repository

    from edgetool.quantize import QuantizeOptions, quantize_bundle

    path = tmp_path / "b"
    shutil.copytree(family_bundle("llama"), path)
    # an OpenVINO IR next to the ONNX: its build leaves the fused graph alone
    quantize_bundle(QuantizeOptions(bundle=path, precision="fp32", target="openvino", quiet=True, check_parity=False))
    assert sorted(a.id for a in Bundle.load(path).artifacts if a.target == "openvino") == ["openvino/fp32/decoder"]
    repo = write_repository(path, tmp_path / "repo", RepositoryOptions(graph_backends=("onnxruntime", "openvino"),
                                                                       bls="openvino"))
    graph_models = sorted(m.split(".", 1)[1] for m in repo.models if "." in m)
    assert graph_models == ["decoder.onnxruntime", "decoder.openvino", "decoder_fused.onnxruntime"], repo.models
    assert not repo.notes, repo.notes
    assert [p.graph for p in plan_builds(Bundle.load(path), TrtBuildOptions())] == ["decoder"]


def test_bench_times_the_fused_decoder(family_bundle, tmp_path):
    """`edgetool bench` on a fused-decoder bundle: its timer wraps the in-place runner, and the generation
    extras count the fused steps."""
    import json

    from cli_invoke import invoke_cli

    out = tmp_path / "bench.json"
    r = invoke_cli("bench", family_bundle("llama"), "--backend", "onnxruntime", "--runs", "2", "--warmup", "1",
                   "--no-cold-start", "-q", "--json", out)
    assert r.exit_code == 0, r.output
    text = json.dumps(json.loads(out.read_text()))
    assert '"new_tokens"' in text and '"decode_tokens_per_s"' in text, text[:2000]


@pytest.mark.parametrize("model_type", FUSED)
def test_fused_decoder_beams_and_in_place_cache_equal_generate(family_bundle, hf, model_type):
    """Beam search (rows reordered in the shared buffers) and a cache grown past its first block, on the fused
    graph, equal transformers' generate."""
    from edgetool.runtime.generation import generate

    ref = hf(model_type)
    enc = ref.tokenizer(["The quick brown fox"], return_tensors="pt")
    with torch.no_grad():
        beams = ref.model.generate(**enc, do_sample=False, max_new_tokens=12, num_beams=3)
        greedy = ref.model.generate(**enc, do_sample=False, max_new_tokens=40, min_new_tokens=40)
    pipe = pipeline(family_bundle(model_type), backend="onnxruntime")
    pipe.model.block = 16  # grow the buffers twice in 40 tokens
    arrays = {k: v.numpy() for k, v in enc.items()}
    for expected, kw in ((beams, dict(max_new_tokens=12, num_beams=3)), (greedy, dict(max_new_tokens=40, min_new_tokens=40))):
        cfg = pipe.generation_config(do_sample=False, **kw)
        ours = generate(pipe.model, {"attention_mask": arrays["attention_mask"]}, arrays["input_ids"], cfg)
        assert ours.tolist() == expected.tolist(), kw


def test_manifest_records_context_and_window(family_bundle):
    from edgetool.runtime.bundle import Bundle

    gen = Bundle.load(family_bundle("mistral")).manifest.generation
    assert (gen.context, gen.sliding_window) == (128, 8)
    gen = Bundle.load(family_bundle("llama")).manifest.generation
    assert (gen.context, gen.sliding_window) == (128, None)


# -- limits: one-line errors, exit 2, nothing written ----------------------------------------------
LONG_PROMPT = " ".join(["the weather was calm and the museum was open"] * 30)  # > 128 tokens


def _one_line_exit_2(result, *words):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for word in words:
        assert word in lines[0], result.output


def test_prompt_past_the_context_is_an_error(family_bundle):
    from cli_invoke import invoke_cli

    from edgetool.runtime.errors import UsageError

    pipe = pipeline(family_bundle("llama"))
    with pytest.raises(UsageError, match="context is 128 positions"):
        pipe(LONG_PROMPT, max_new_tokens=2, do_sample=False)
    _one_line_exit_2(invoke_cli("run", family_bundle("llama"), LONG_PROMPT), "Shorten the prompt")


def test_max_new_tokens_past_the_context(family_bundle, hf):
    from edgetool.runtime.errors import UsageError

    pipe = pipeline(family_bundle("llama"))
    n = len(pipe.tokenizer.encode([PROMPT], add_special_tokens=False).arrays["input_ids"][0])
    with pytest.raises(UsageError, match=f"at most {128 - n} new tokens"):
        pipe(PROMPT, max_new_tokens=129 - n, do_sample=False)
    with pytest.raises(UsageError, match="past the model's context"):
        pipe(PROMPT, generate_kwargs={"max_length": 200}, do_sample=False)
    # exactly up to the context is allowed, and equals transformers
    kw = dict(max_new_tokens=128 - n, do_sample=False)
    assert pipe(PROMPT, **kw) == hf("llama")(PROMPT, **kw)
    # the pipeline's default length (256 new tokens) is cut at the context instead of failing
    assert pipe(PROMPT, do_sample=False) == pipe(PROMPT, **kw)


def _tiny_checkpoint(out, config_json: dict):
    import json

    out.mkdir()
    (out / "config.json").write_text(json.dumps(config_json))
    (out / "model.safetensors").write_bytes(b"")  # never read: the checks come first


def test_unexportable_model_type_is_named(tmp_path):
    from cli_invoke import invoke_cli

    _tiny_checkpoint(tmp_path / "mamba", {"model_type": "mamba", "vocab_size": 64, "hidden_size": 16,
                                          "num_hidden_layers": 1})
    out = tmp_path / "bundle"
    r = invoke_cli("export", "--task", "text-generation", "--model", tmp_path / "mamba", "--out", out)
    _one_line_exit_2(r, "'mamba'", "state-space")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["mamba"]


def test_remote_code_checkpoint_is_refused(tmp_path):
    from cli_invoke import invoke_cli

    _tiny_checkpoint(tmp_path / "custom", {"model_type": "my_llm", "architectures": ["MyLLMForCausalLM"],
                                           "auto_map": {"AutoConfig": "configuration_my.MyConfig",
                                                        "AutoModelForCausalLM": "modeling_my.MyLLMForCausalLM"}})
    out = tmp_path / "bundle"
    r = invoke_cli("export", "--task", "text-generation", "--model", tmp_path / "custom", "--out", out)
    _one_line_exit_2(r, "trust_remote_code", "'my_llm'")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["custom"]


# -- chat ------------------------------------------------------------------------------------------
CHAT = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "What is the weather like?"}]


def test_chat_messages_equal_transformers_pipeline(family_bundle, hf):
    ours, theirs = pipeline(family_bundle("qwen2")), hf("qwen2")
    kw = dict(max_new_tokens=10, do_sample=False)
    assert ours(CHAT, **kw) == theirs(CHAT, **kw)
    assert ours(CHAT, **kw)[0]["generated_text"][-1]["role"] == "assistant"
    assert ours(CHAT, return_full_text=False, **kw) == theirs(CHAT, return_full_text=False, **kw)
    batch = [CHAT, [{"role": "user", "content": "Hello there"}]]
    assert ours(batch, **kw) == theirs(batch, **kw)
    prefill = CHAT + [{"role": "assistant", "content": "It is"}]  # continued, not closed
    assert ours(prefill, **kw) == theirs(prefill, **kw)


def test_chat_flag_prints_the_reply(family_bundle, hf):
    from cli_invoke import invoke_cli

    root = family_bundle("qwen2")
    message = [{"role": "user", "content": "What is the weather like?"}]
    reply = hf("qwen2")(message, max_new_tokens=8, do_sample=False, return_full_text=False)[0]["generated_text"]
    assert pipeline(root)("What is the weather like?", chat=True, max_new_tokens=8, do_sample=False) == \
        [{"generated_text": reply}]
    r = invoke_cli("run", root, "What is the weather like?", "--chat", "--max-new-tokens", "8", "--seed", "3")
    assert r.exit_code == 0, r.output
    sampled = pipeline(root)("What is the weather like?", chat=True, max_new_tokens=8, seed=3)[0]["generated_text"]
    assert sampled.strip() and sampled.strip() in r.output


def test_chat_without_template_is_an_error(bundle_dir):
    from edgetool.runtime.errors import UsageError

    with pytest.raises(UsageError, match="no chat_template"):
        pipeline(bundle_dir("text-generation"))(CHAT, max_new_tokens=2)


def test_eos_token_id_list_stops_like_transformers(family_bundle, hf):
    """A list of eos ids (Llama 3 style: <|end_of_text|>, <|eot_id|>): generation stops at any of them."""
    ref = hf("llama")
    n = len(ref.tokenizer(PROMPT)["input_ids"])
    free = ref.model.generate(**ref.tokenizer(PROMPT, return_tensors="pt"), max_new_tokens=12, do_sample=False)[0]
    stop = int(free[n + 4])  # the 5th generated token, listed second
    kw = dict(max_new_tokens=12, do_sample=False, eos_token_id=[ref.tokenizer.eos_token_id, stop])
    theirs = ref(PROMPT, **kw)
    assert len(theirs[0]["generated_text"]) < len(ref(PROMPT, max_new_tokens=12, do_sample=False)[0]["generated_text"])
    for backend in BACKENDS:
        assert pipeline(family_bundle("llama"), backend=backend)(PROMPT, **kw) == theirs, backend


# -- stop strings and min_p ------------------------------------------------------------------------
def test_stop_strings_equal_transformers_pipeline(family_bundle, hf):
    """Greedy with stop_strings: the same (shorter) text as the transformers pipeline given the tokenizer,
    the stop string kept; the same through `edgetool run --stop`."""
    from cli_invoke import invoke_cli

    ref = hf("llama")
    kw = dict(max_new_tokens=NEW, do_sample=False, return_full_text=False)
    free = ref(PROMPT, **kw)[0]["generated_text"]
    stop = free[8:11]  # three characters in the middle of the generated text
    theirs = ref(PROMPT, stop_strings=[stop], tokenizer=ref.tokenizer, **kw)
    assert stop in theirs[0]["generated_text"] and len(theirs[0]["generated_text"]) < len(free)
    for backend in BACKENDS:
        pipe = pipeline(family_bundle("llama"), backend=backend)
        assert pipe(PROMPT, stop_strings=[stop], **kw) == theirs, backend
        assert pipe(PROMPT, stop_strings=["never generated", stop], **kw) == theirs, backend
    # `run` samples (the pipeline's default): the stop string cut from a sampled text stops that same draw
    sampled = dict(max_new_tokens=NEW, seed=3, return_full_text=False)
    drawn = pipe(PROMPT, **sampled)[0]["generated_text"]
    stop = drawn[8:11]
    cut = pipe(PROMPT, stop_strings=[stop], **sampled)[0]["generated_text"]
    assert stop in cut and drawn.startswith(cut) and len(cut) < len(drawn)
    r = invoke_cli("run", family_bundle("llama"), PROMPT, "--max-new-tokens", str(NEW), "--seed", "3",
                   "--stop", "zzz", "--stop", stop)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == (PROMPT + cut).strip()


class TorchStep:
    """A StepModel whose logits come from the transformers model itself (one prompt row, no padding)."""

    is_encoder_decoder = False

    def __init__(self, model):
        self.model = model

    def start(self, inputs, expand=1):
        assert expand == 1
        return {"cache": None}

    def step(self, state, new):
        with torch.no_grad():
            out = self.model(input_ids=torch.from_numpy(new), past_key_values=state["cache"], use_cache=True)
        state["cache"] = out.past_key_values
        return out.logits[:, -1].float().numpy()

    def reorder(self, state, rows):
        raise NotImplementedError


def test_min_p_sampling_equals_numpy_sampler_on_torch_logits(family_bundle, hf):
    """Sampling with min_p and a seed: the bundle's text is what the same NumPy sampler draws from the
    transformers model's own logits; min_p changes the draw (it is applied, after top-k/top-p)."""
    from edgetool.runtime.generation import generate

    ref = hf("llama")
    ids = ref.tokenizer(PROMPT, return_tensors="np")["input_ids"]
    kw = dict(max_new_tokens=16, do_sample=True, temperature=2.0, top_k=0, seed=4, return_full_text=False)
    pipe = pipeline(family_bundle("llama"))
    cfg = pipe.generation_config(**{k: v for k, v in kw.items() if k != "return_full_text"}, min_p=0.3)
    torch_ids = generate(TorchStep(ref.model), {"attention_mask": np.ones_like(ids)}, ids, cfg)
    expected = ref.tokenizer.decode(torch_ids[0, ids.shape[1]:], skip_special_tokens=True)
    for backend in BACKENDS:
        ours = pipeline(family_bundle("llama"), backend=backend)(PROMPT, min_p=0.3, **kw)
        assert ours == [{"generated_text": expected}], backend
    assert pipe(PROMPT, **kw) != pipe(PROMPT, min_p=0.3, **kw)


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_sampling_and_beams_equal_transformers(family_bundle, hf, model_type):
    """Every family, on both engines: sampling with a seed draws exactly what the same NumPy sampler draws from the
    transformers model's own logits (TorchStep; temperature, top-k and top-p applied), and beam search gives
    transformers' `generate` ids."""
    from edgetool.runtime.generation import generate

    ref = hf(model_type)
    ids = ref.tokenizer(PROMPT, return_tensors="np")["input_ids"]
    inputs = {"attention_mask": np.ones_like(ids)}
    sampling = dict(max_new_tokens=12, do_sample=True, temperature=1.5, top_k=40, top_p=0.9, seed=7)
    beams = dict(max_new_tokens=8, do_sample=False, num_beams=3)
    drawn = generate(TorchStep(ref.model), inputs, ids, pipeline(family_bundle(model_type)).generation_config(**sampling))
    with torch.no_grad():
        searched = ref.model.generate(**{k: torch.from_numpy(v) for k, v in {"input_ids": ids, **inputs}.items()}, **beams)
    assert drawn.shape[1] > ids.shape[1] + 4 and searched.shape[1] > ids.shape[1] + 4  # really generated
    for backend in BACKENDS:
        pipe = pipeline(family_bundle(model_type), backend=backend)
        assert generate(pipe.model, inputs, ids, pipe.generation_config(**sampling)).tolist() == drawn.tolist(), backend
        assert generate(pipe.model, inputs, ids, pipe.generation_config(**beams)).tolist() == searched.tolist(), backend


def test_bad_min_p_and_stop_are_one_line_errors(family_bundle):
    from cli_invoke import invoke_cli

    from edgetool.runtime.errors import UsageError

    pipe = pipeline(family_bundle("llama"))
    with pytest.raises(UsageError, match="min_p must be between 0 and 1"):
        pipe(PROMPT, max_new_tokens=2, min_p=1.5)
    with pytest.raises(UsageError, match="non-empty"):
        pipe(PROMPT, max_new_tokens=2, stop_strings=[""])
    _one_line_exit_2(invoke_cli("run", family_bundle("llama"), PROMPT, "--min-p", "-0.5"), "min_p", "-0.5")
    _one_line_exit_2(invoke_cli("run", family_bundle("llama"), PROMPT, "--stop", ""), "stop_strings", "non-empty")
