"""Weight-only quantization of a decoder LLM (a tiny Llama with grouped-query attention): --precision
int8 (weight-only by default for text-generation) and int4 on ONNX Runtime (MatMulNBits, blocks of 32,
LM head 8-bit) and OpenVINO (NNCF compress_weights), each with the accuracy report's teacher-forced
top-1 agreement and logits cosine against fp32, and --max-metric-drop / --fallback.

The report's numbers are checked against the transformers model itself: the quantized graph's logits
on the golden sequences, compared with the torch model's, give the report's cosine."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

from edgetool.quantize import QuantizeOptions, quantize_bundle
from edgetool.quantize.accuracy_report import AccuracyDropError
from edgetool.runtime import pipeline
from edgetool.runtime.bundle import Bundle

PROMPT = "The weather was"
TARGETS = (("onnx", "onnxruntime"), ("openvino", "openvino"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import transformers

    from edgetool.export.reference.generation import train_gpt2_tokenizer

    out = tmp_path_factory.mktemp("llama")
    train_gpt2_tokenizer(out)
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    cfg = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                   pad_token_id=tok.eos_token_id, hidden_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                                   max_position_embeddings=128, initializer_range=0.05)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(cfg).eval().save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def quantized(checkpoint, tmp_path_factory):
    """One bundle with fp32, int8 and int4 for ONNX Runtime and OpenVINO: `export --precision int4` (ONNX
    Runtime), then int8 on both targets and `quantize --precision int4 --target openvino`.
    (bundle, export output, quantize output)."""
    from cli_invoke import invoke_cli

    path = tmp_path_factory.mktemp("q") / "b"
    exported = invoke_cli("export", "--task", "text-generation", "--model", checkpoint, "--precision", "int4",
                          "--out", path, "-q")
    assert exported.exit_code == 0, exported.output
    for target, _ in TARGETS:
        quantize_bundle(QuantizeOptions(bundle=path, precision="int8", target=target, held_out=2, quiet=True))
    r = invoke_cli("quantize", path, "--precision", "int4", "--target", "openvino", "--no-parity-check")
    assert r.exit_code == 0, r.output
    return path, exported.output, r.output


def _nbits(path, precision, graph: str = "decoder", attribute: str = "bits") -> list[int]:
    art = next(a for a in Bundle.load(path).artifacts
               if a.target == "onnx" and a.precision == precision and a.graph == graph)
    model = onnx.load(str(path / next(f for f in art.files if f.endswith(".onnx"))))
    return [next(a.i for a in n.attribute if a.name == attribute) for n in model.graph.node if n.op_type == "MatMulNBits"]


def _gathers(path, precision) -> list[tuple[str, int]]:
    art = next(a for a in Bundle.load(path).artifacts
               if a.target == "onnx" and a.precision == precision and a.graph == "decoder")
    model = onnx.load(str(path / next(f for f in art.files if f.endswith(".onnx"))))
    return [(n.op_type, next((a.i for a in n.attribute if a.name == "bits"), 32)) for n in model.graph.node
            if n.op_type.startswith("Gather") and n.op_type != "GatherND" and n.name.startswith("node_embedding")]


def test_artifacts_are_weight_only(quantized):
    path, _, cli_output = quantized
    b = Bundle.load(path)
    b.verify_all()
    # 2 layers x 7 projections: int8 all 8-bit; int4 4-bit with the LM head (last) 8-bit
    assert _nbits(path, "int8") == [8] * 15
    bits4 = _nbits(path, "int4")
    assert len(bits4) == 15 and bits4.count(8) == 1 and bits4.count(4) == 14
    # the fused decoder (ONNX Runtime): 2 layers x 4 weights (q|k|v and gate|up packed), the same LM head
    assert _nbits(path, "int8", "decoder_fused") == [8] * 9 and _nbits(path, "int4", "decoder_fused") == [4] * 8 + [8]
    # blocks: 32 at 4 bits, the widest dividing the hidden size (64) at 8 bits
    assert _nbits(path, "int8", attribute="block_size") == [64] * 15
    assert _nbits(path, "int4", "decoder_fused", "block_size") == [32] * 8 + [64]
    arts = {(a.target, a.precision): a for a in b.artifacts}
    assert arts[("onnx", "int4")].options["backends"] == ["onnxruntime"]
    # an untied embedding table is quantized on its own, at the LM head's bits
    assert arts[("onnx", "int4")].options["embeddings"] == arts[("onnx", "int8")].options["embeddings"] == "int8"
    assert _gathers(path, "int4") == [("GatherBlockQuantized", 8)]  # a contrib op: not for OpenVINO
    sizes = {p: sum((path / f).stat().st_size for f in arts[("openvino", p)].files) for p in ("int8", "int4")}
    fp32 = (path / "onnx" / "fp32" / "decoder.onnx").stat().st_size
    assert sizes["int4"] < sizes["int8"] < 0.5 * fp32
    assert "weight-only int4" in cli_output and "teacher-forced positions" in cli_output  # the accuracy table


def test_accuracy_report_rows(quantized):
    acc = Bundle.load(quantized[0]).manifest.accuracy.to_json()["rows"]
    floors = {"int8": (0.9, 0.999), "int4": (0.6, 0.95)}  # (top-1, mean logits cosine) on this tiny random model
    for _, backend in TARGETS:
        for precision, (top1, cosine) in floors.items():
            row = acc[f"{backend}/{precision}"]
            tf = row["teacher_forced"]
            assert row["metric"] == "teacher_forced_top1" and row["value"] == tf["top1_agreement"]
            assert row["drop"] == pytest.approx(1 - tf["top1_agreement"])
            assert tf["top1_agreement"] >= top1 and tf["logits_cosine"] >= cosine, (backend, precision, tf)
            assert tf["top1_agreement"] < 1.0 or precision == "int8"  # int4 really changed the weights
            assert row["method"].startswith(f"weight-only {precision}"), row
    assert acc["onnxruntime/int8"]["teacher_forced"]["logits_cosine"] > acc["onnxruntime/int4"]["teacher_forced"]["logits_cosine"]


def test_report_agrees_with_the_torch_model(quantized, checkpoint):
    """The int4 graph's logits on a golden sequence, against the transformers model's: cosine as reported."""
    import transformers

    from edgetool.check import golden
    from edgetool.runtime.pipelines.base import open_engines

    path = quantized[0]
    b = Bundle.load(path)
    calls = [c for c in golden.load(b).calls[0] if c.graph == "decoder"]
    ids = np.concatenate([c.feeds["input_ids"][:1] for c in calls], axis=1)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(ids.shape[1])[None]}
    feeds.update({k: v[:1] for k, v in calls[0].feeds.items() if k.startswith("past_key_values")})
    model = transformers.AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)).logits[0].numpy().astype(np.float64)
    for backend in ("onnxruntime", "openvino"):
        got = open_engines(b, backend, "int4")["decoder"].run(feeds)["logits"][0].astype(np.float64)
        cos = (ref * got).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(got, axis=-1)
        fp32 = open_engines(b, backend, "fp32")["decoder"].run(feeds)["logits"][0]
        np.testing.assert_allclose(fp32, ref, atol=1e-4)
        assert 0.95 < cos.mean() < 0.9999 and (ref.argmax(-1) == got.argmax(-1)).mean() >= 0.5, backend
        text = pipeline(path, backend=backend, precision="int4")(PROMPT, max_new_tokens=6, do_sample=False)
        assert text[0]["generated_text"].startswith(PROMPT) and len(text[0]["generated_text"]) > len(PROMPT)


def test_max_metric_drop_and_fallback(quantized, tmp_path):  # int4 via quantize_bundle (the Python API)
    path = tmp_path / "b"
    shutil.copytree(quantized[0], path)
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    opts = dict(bundle=path, precision="int4", target="onnx", held_out=2, quiet=True, check_parity=False)
    with pytest.raises(AccuracyDropError, match="teacher_forced_top1 drops by"):
        quantize_bundle(QuantizeOptions(max_metric_drop=0.01, **opts))
    assert {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()} == before  # nothing written
    plain = Bundle.load(quantized[0]).manifest.accuracy.to_json()["rows"]["onnxruntime/int4"]["drop"]
    quantize_bundle(QuantizeOptions(max_metric_drop=plain - 0.05, fallback=True, **opts))
    row = Bundle.load(path).manifest.accuracy.to_json()["rows"]["onnxruntime/int4"]
    assert row["drop"] <= plain - 0.05 and row["fallback"]["kept"] >= 1
    # the ranking spans both forms of the decoder (portable: 15 weight MatMuls, fused: 9, gate|up packed)
    assert len(_nbits(path, "int4")) + len(_nbits(path, "int4", "decoder_fused")) == 15 + 9 - row["fallback"]["kept"]


def test_export_int4_is_gated_per_step(quantized):
    """`export --precision int4`: the parity gate judges a quantized decoder by the top-1 of each replayed
    step (whole greedy sequences of a random tiny model diverge at the first near-tie); `run` uses it."""
    import json

    from cli_invoke import invoke_cli

    path, exported, _ = quantized
    assert "onnxruntime/int4: parity ok" in exported and "teacher_forced_top1" in exported
    parity = json.loads((path / "edgetool.json").read_text())["parity"]["onnxruntime/int4"]
    assert parity["metric"]["name"] == "teacher_forced_top1" and parity["metric"]["steps"] > 10
    assert parity["metric"]["value"] >= 0.7 and parity["answers"]["passed"] is None
    r = invoke_cli("run", path, PROMPT, "--precision", "int4", "--max-new-tokens", "4")
    assert r.exit_code == 0 and r.output.startswith(PROMPT), r.output


def test_lm_head_precision_is_configurable(quantized, tmp_path):
    from edgetool.runtime.errors import UsageError

    path = tmp_path / "b"
    shutil.copytree(quantized[0], path)
    opts = dict(bundle=path, precision="int4", held_out=0, quiet=True, check_parity=False)
    for head, bits in (("fp32", [4] * 14), ("int4", [4] * 15)):
        quantize_bundle(QuantizeOptions(target="onnx", lm_head=head, **opts))
        assert _nbits(path, "int4") == bits, head
    quantize_bundle(QuantizeOptions(target="openvino", lm_head="fp32", **opts))
    art = next(a for a in Bundle.load(path).artifacts if a.target == "openvino" and a.precision == "int4")
    assert art.options["lm_head"] == "fp32" and len(art.options["kept_fp32_nodes"]) == 1
    assert pipeline(path, backend="openvino", precision="int4")(PROMPT, max_new_tokens=3, do_sample=False)
    with pytest.raises(UsageError, match="--lm-head applies to --precision int4"):
        quantize_bundle(QuantizeOptions(**{**opts, "precision": "int8"}, target="onnx", lm_head="fp32"))
    with pytest.raises(UsageError, match="--lm-head must be one of int8, int4, fp32, got 'int2'"):
        quantize_bundle(QuantizeOptions(target="onnx", lm_head="int2", **opts))


def test_tied_embeddings_are_stored_once(tmp_path):
    """Tied embeddings (SmolLM, Qwen2.5, Gemma, Llama 3.2) trace as MatMul(x, Transpose(table)): the int4
    artifact quantizes that LM head (8-bit) and the embedding Gather reads the head's own quantized weight,
    so no float copy of the table is left."""
    import transformers

    from cli_invoke import invoke_cli
    from edgetool.export.reference.generation import train_gpt2_tokenizer

    ckpt = tmp_path / "tied"
    train_gpt2_tokenizer(ckpt)
    tok = transformers.AutoTokenizer.from_pretrained(str(ckpt))
    cfg = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                   hidden_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                   intermediate_size=128, max_position_embeddings=64, tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(cfg).eval().save_pretrained(str(ckpt))
    r = invoke_cli("export", "--task", "text-generation", "--model", ckpt, "--precision", "int4", "--out", tmp_path / "b", "-q")
    assert r.exit_code == 0, r.output  # the parity gate passed on the quantized decoder
    arts = [a for a in Bundle.load(tmp_path / "b").artifacts if a.precision == "int4"]
    assert sorted(a.graph for a in arts) == ["decoder", "decoder_fused"]  # both forms tie the same way
    for art in arts:
        assert art.options["lm_head"] == "int8" and art.options["embeddings"] == "int8, shared with the LM head"
        model = onnx.load(str(tmp_path / "b" / art.path))
        head = [n for n in model.graph.node
                if n.op_type == "MatMulNBits" and next(a.i for a in n.attribute if a.name == "N") == len(tok)]
        assert len(head) == 1 and next(a.i for a in head[0].attribute if a.name == "bits") == 8
        assert next(a.i for a in head[0].attribute if a.name == "block_size") == 64 == art.options["lm_head_block_size"]
        views = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Reshape"}
        (gather,) = [n for n in model.graph.node if n.op_type == "GatherBlockQuantized"]
        assert views[gather.input[0]] == head[0].input[1] and views[gather.input[2]] == head[0].input[2]
        assert next(a.i for a in gather.attribute if a.name == "block_size") == 64  # reads the head's blocks
        assert not [i for i in model.graph.initializer if list(i.dims) in ([len(tok), 64], [64, len(tok)])]


@pytest.mark.parametrize("bits,hidden,block", [(4, 576, 32), (4, 2048, 32), (8, 576, 64), (8, 2048, 128),
                                               (8, 896, 128), (8, 48, 32)])
def test_block_size_per_bit_width(bits, hidden, block):
    """4 bits: blocks of 32 (ONNX Runtime GenAI's); 8 bits: the widest of 128/64/32 that tiles the hidden size
    (what a tied embedding table shares with the LM head), 32 when none does (MatMulNBits pads the rest)."""
    from edgetool.quantize.weight_only import nbits_block

    assert nbits_block(bits, hidden) == block


# -- --kv-cache int8: ONNX Runtime's fused decoder keeps its cache in int8 (quantize/kv_cache.py) ----------------
def test_key_scales_bound_every_rotation():
    """A cached key is already rotated; a later position turns each pair (j, j + h/2) by another angle. The pair's
    largest radius bounds both channels at any angle, so no rotation of what calibration saw saturates."""
    from edgetool.quantize.kv_cache import LEVELS, key_scales, value_scales

    rng = np.random.default_rng(0)
    keys = rng.standard_normal((1, 2, 50, 8)) * np.array([1, 2, 3, 4, 1, 2, 3, 4])  # [batch, kv, positions, h]
    scales = key_scales(keys)
    assert scales.shape == (1, 2, 1, 8) and scales.dtype == np.float32
    half = 4
    for angle in rng.uniform(0, 2 * np.pi, 20):
        c, s = np.cos(angle), np.sin(angle)
        turned = np.concatenate([keys[..., :half] * c - keys[..., half:] * s,
                                 keys[..., :half] * s + keys[..., half:] * c], axis=-1)
        assert (np.abs(turned) <= scales * LEVELS * (1 + 1e-6)).all()
    radius = np.sqrt(keys[..., :half] ** 2 + keys[..., half:] ** 2).max(axis=(0, 2))  # brute force
    np.testing.assert_allclose(scales[0, :, 0], np.concatenate([radius, radius], -1) / LEVELS, rtol=1e-6)
    np.testing.assert_allclose(value_scales(keys)[0, :, 0], np.abs(keys).max(axis=(0, 2)) / LEVELS, rtol=1e-6)
    assert (value_scales(np.zeros((1, 1, 3, 4))) > 0).all()  # a silent channel still divides


@pytest.fixture(scope="module")
def kv_int8(checkpoint, tmp_path_factory):
    """`export --precision int4 --kv-cache int8`, then `quantize --precision int8 --kv-cache int8`."""
    from cli_invoke import invoke_cli

    path = tmp_path_factory.mktemp("kv") / "b"
    r = invoke_cli("export", "--task", "text-generation", "--model", checkpoint, "--precision", "int4",
                   "--kv-cache", "int8", "--out", path, "-q")
    assert r.exit_code == 0, r.output
    quantize_bundle(QuantizeOptions(bundle=path, precision="int8", target="onnx", kv_cache="int8", held_out=2,
                                    quiet=True))
    return path, r.output


def test_kv_cache_int8_artifacts(kv_int8):
    path, output = kv_int8
    b = Bundle.load(path)
    b.verify_all()
    for precision in ("int4", "int8"):
        arts = {a.graph: a for a in b.artifacts if a.target == "onnx" and a.precision == precision}
        fused, portable = arts["decoder_fused"], arts["decoder"]
        assert fused.options["kv_cache"] == "int8" and fused.options["kv_cache_layers"] == 2
        assert fused.options["kv_cache_calibration_calls"] > 0
        assert "kv_cache" not in portable.options  # the portable graph (OpenVINO, TensorRT) keeps a float cache
        model = onnx.load(str(path / fused.path))
        cache = [v for v in list(model.graph.input) + list(model.graph.output) if "key" in v.name or "value" in v.name]
        assert len(cache) == 8 and {v.type.tensor_type.elem_type for v in cache} == {onnx.TensorProto.INT8}
        assert set(fused.options["io_dtypes"]) == {v.name for v in cache}
        gqa = [n for n in model.graph.node if n.op_type == "GroupQueryAttention"]
        attrs = [{a.name: a for a in n.attribute} for n in gqa]
        assert all(a["k_quant_type"].s == b"PER_CHANNEL" and a["kv_cache_bit_width"].i == 8 for a in attrs)
        inits = {i.name: i for i in model.graph.initializer}
        assert all(list(inits[n.input[12]].dims) == [1, 2, 1, 16] for n in gqa)  # [1, kv heads, 1, head size]
        row = b.manifest.accuracy.to_json()["rows"][f"onnxruntime/{precision}"]
        tf = row["teacher_forced"]
        assert tf["through"] == "int8 KV cache, step by step" and tf["positions"] > 10
        assert row["method"].endswith("int8 KV cache") and tf["top1_agreement"] >= 0.6, row
    assert "onnxruntime/int4: parity ok" in output and "teacher_forced_top1" in output  # the gate, per step
    from edgetool.quantize import format_table

    assert "int8 KV cache" in format_table(b.manifest.accuracy.to_json())
    assert b.manifest.provenance.to_json()["calibration"]["onnxruntime/int4"]["calls"]["decoder_fused"] > 0


def test_kv_cache_int8_holds_the_torch_models_keys(kv_int8, checkpoint, tmp_path):
    """The rewrite on its own (the fp32 fused graph, scales from the golden's recorded calls): after a prompt, its
    first layer's int8 cache holds the transformers model's own rotated keys and values, each divided by its
    channel's scale and rounded (one step of rounding apart at most). Attention already reads the int8 cache at
    the prompt, so later layers see its rounding: their cache, scaled back, stays close to torch's."""
    import onnxruntime as ort
    import transformers

    from edgetool.check import golden
    from edgetool.quantize.kv_cache import quantize_kv_cache
    from edgetool.runtime.names import past, present

    b = Bundle.load(kv_int8[0])
    graph_path = tmp_path / "decoder_fused.onnx"
    shutil.copy(b.root / "onnx" / "fp32" / "decoder_fused.onnx", graph_path)
    feeds = [c.feeds for calls in golden.load(b).calls for c in calls if c.graph == "decoder_fused"]
    assert quantize_kv_cache(graph_path, feeds)["kv_cache_layers"] == 2
    graph = onnx.load(str(graph_path)).graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    scales = {n.input[3]: inits[n.input[12]] for n in graph.node if n.op_type == "GroupQueryAttention"}
    scales.update({n.input[4]: inits[n.input[13]] for n in graph.node if n.op_type == "GroupQueryAttention"})
    ids = np.array([[5, 17, 33, 9, 41, 12, 7]], np.int64)
    session = ort.InferenceSession(str(graph_path), providers=["CPUExecutionProvider"])
    empty = {past(i, kind): np.zeros((1, 2, 0, 16), np.int8) for i in range(2) for kind in ("key", "value")}
    out = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), **empty})))
    torch_model = transformers.AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    with torch.no_grad():
        cache = torch_model(torch.from_numpy(ids), use_cache=True).past_key_values
    for layer in range(2):
        for kind, torch_kv in (("key", cache.layers[layer].keys), ("value", cache.layers[layer].values)):
            want = np.clip(np.round(torch_kv.numpy() / scales[past(layer, kind)]), -127, 127)
            got = out[present(layer, kind)]
            assert got.dtype == np.int8 and got.shape == want.shape
            diff = np.abs(got.astype(np.float64) - want)
            if layer == 0:
                assert diff.max() <= 1 and (diff == 0).mean() > 0.95, kind
            back, ref = (got * scales[past(layer, kind)]).ravel(), torch_kv.numpy().ravel()
            assert back @ ref / np.linalg.norm(back) / np.linalg.norm(ref) > 0.995, (layer, kind)


def test_kv_cache_int8_runs_in_the_runtime(kv_int8):
    """The pipeline's buffers are int8 (a quarter of the memory), bound once and written in place; generation on
    them gives the same tokens as stepping the same graph without the binding (what the report measures)."""
    from edgetool.quantize.accuracy_report import _through_cache

    path = kv_int8[0]
    pipe = pipeline(path, backend="onnxruntime", precision="int4")
    model = pipe.model
    assert model.cache_dtype == np.int8 and model.bind is not None
    ids = np.array([[5, 17, 33, 9, 41, 12, 7]], np.int64)
    state = model.start({"attention_mask": np.ones_like(ids)})
    tokens, logits = [], model.step(state, ids)
    for _ in range(6):
        tokens.append(int(logits[0].argmax()))
        logits = model.step(state, np.array([[tokens[-1]]], np.int64))
    assert all(buf.dtype == np.int8 for buf in state["past"].values())
    stepped = _through_cache(Bundle.load(path), pipe.engines)(np.concatenate([ids[0], tokens[:-1]]), ids.shape[1])
    assert [int(t) for t in stepped.argmax(-1)] == tokens
    out = pipe(PROMPT, max_new_tokens=8, do_sample=False)[0]["generated_text"]
    assert out.startswith(PROMPT) and len(out) > len(PROMPT)


def test_kv_cache_int8_triton_model_declares_int8(kv_int8, tmp_path):
    """A Triton model of the int4 fused decoder declares its int8 cache, and its warm-up (golden's first step,
    an empty cache) is written in int8 too: Triton checks both against the model when it loads it."""
    from edgetool.serve.repository import RepositoryOptions, write_repository

    repo = write_repository(kv_int8[0], tmp_path / "repo", RepositoryOptions(precision="int4", max_batch=0,
                                                                            graph_backends=("onnxruntime",)))
    fused = next(m for m in repo.models if ".decoder_fused." in m)
    config = (tmp_path / "repo" / fused / "config.pbtxt").read_text()
    for layer in range(2):
        for kind in ("key", "value"):
            for name in (f"past_key_values.{layer}.{kind}", f"present.{layer}.{kind}"):
                assert f'name: "{name}" data_type: TYPE_INT8' in config, name
    assert 'name: "input_ids" data_type: TYPE_INT64' in config
    assert 'key: "past_key_values.0.key" value { data_type: TYPE_INT8' in config  # the warm-up's input
    portable = next(m for m in repo.models if ".decoder." in m)
    assert 'name: "past_key_values.0.key" data_type: TYPE_FP32' in (tmp_path / "repo" / portable / "config.pbtxt").read_text()


def test_kv_cache_int8_refuses_what_it_cannot_do(kv_int8, checkpoint, tmp_path):
    from cli_invoke import invoke_cli
    from edgetool.runtime.errors import UsageError

    for args, message in ((("--precision", "int4", "--target", "openvino"), "--kv-cache int8 applies to decoder LLMs"),
                          (("--precision", "fp32"), "--kv-cache int8 applies to decoder LLMs"),
                          (("--precision", "int4", "--kv-cache", "int4"), "--kv-cache must be one of fp32, int8")):
        out = tmp_path / "never"
        kv = () if "--kv-cache" in args else ("--kv-cache", "int8")
        r = invoke_cli("export", "--task", "text-generation", "--model", checkpoint, *args, *kv, "--out", out, "-q")
        assert r.exit_code == 2 and message in r.output and not out.exists(), r.output
    with pytest.raises(UsageError, match="--kv-cache int8 applies to decoder LLMs"):
        quantize_bundle(QuantizeOptions(bundle=kv_int8[0], precision="fp16", target="onnx", kv_cache="int8"))
    from edgetool.export.localize import localize

    with pytest.raises(UsageError, match="--localize replays fp32's recorded calls"):
        localize(Bundle.load(kv_int8[0]), "onnxruntime", "int4", None, "decoder_fused", {}, None)


def test_kv_cache_int8_validates_on_the_device(kv_int8):
    """`validate` (no torch: the golden calls) replays the fused graph through its own int8 cache."""
    from cli_invoke import invoke_cli

    r = invoke_cli("validate", kv_int8[0], "--precision", "int4")
    assert r.exit_code == 0 and "PARITY OK" in r.output and "teacher_forced_top1" in r.output, r.output
