"""Writes the golden files of the fast runtime unit tests (tests/runtime/test_*_golden.py).

Run once, with torch and transformers 4.57.6 installed (the export environment):

    OMP_NUM_THREADS=1 .venv/bin/python tests/golden_data/make_golden.py            # every section
    OMP_NUM_THREADS=1 .venv/bin/python tests/golden_data/make_golden.py nms ctc    # some sections

Everything is seeded and small (pictures of 19-67 px, audio of at most a few seconds, tokenizers of a
few hundred entries trained here on a built-in corpus), so the whole folder stays well under 2 MB.
The tests read these files with NumPy, Pillow and tokenizers only: they never import torch or
transformers. What each file holds is listed in README.md next to this script.

"Fixed logits" for the pipelines (token classification, question answering, CTC speech recognition)
come from stand-in models whose output depends only on the input: a per-token-id table for the text
tasks, a rule on each frame's samples for CTC. The transformers pipeline runs with the stand-in in
place of the network, and the tests run edgetool's pipeline with an engine that computes the same.
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402

OUT = Path(__file__).resolve().parent
SEED = 0
RATE = 16000
LARGE = 60_000  # outputs with more elements are stored as a strided sample plus their sum


# -- writing --------------------------------------------------------------------------------------------
def save_json(name: str, obj) -> None:
    (OUT / name).write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def save_npz(name: str, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (OUT / name).write_bytes(buf.getvalue())


def record(arrays: dict, key: str, x: np.ndarray) -> dict:
    """Stores x (or, when large, every step-th element and its float64 sum) and describes it."""
    x = np.asarray(x)
    info = {"shape": list(x.shape), "dtype": str(x.dtype)}
    if x.size > LARGE:
        step = int(math.ceil(x.size / 4096))
        arrays[key] = x.reshape(-1)[::step]
        info.update(step=step, sum=float(x.astype(np.float64).sum()))
    else:
        arrays[key] = x
    return info


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def saved_config(processor) -> dict:
    """preprocessor_config.json as save_pretrained writes it: what the exporter puts in the manifest."""
    with tempfile.TemporaryDirectory() as d:
        processor.save_pretrained(d)
        return json.loads((Path(d) / "preprocessor_config.json").read_text(encoding="utf-8"))


# -- pictures and image processors -------------------------------------------------------------------------
def _rgb(rng, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255.0 / max(w - 1, 1), y * 255.0 / max(h - 1, 1), (x + y) * 127.0 / (h + w)], -1)
    return np.clip(base + rng.integers(-40, 41, size=(h, w, 3)), 0, 255).astype(np.uint8)


def make_pictures() -> list[str]:
    """Small PNGs in several modes; names give the stored height and width."""
    rng = np.random.default_rng(SEED)
    folder = OUT / "pictures"
    folder.mkdir(exist_ok=True)
    pics = {
        "rgb_h37_w53": Image.fromarray(_rgb(rng, 37, 53)),
        "rgb_h53_w37": Image.fromarray(_rgb(rng, 53, 37)),
        "gray_h29_w41": Image.fromarray(_rgb(rng, 29, 41)[..., 0], "L"),
        "rgba_h41_w41": Image.fromarray(np.concatenate([_rgb(rng, 41, 41), rng.integers(0, 256, (41, 41, 1), dtype=np.uint8)], -1), "RGBA"),
        "palette_h23_w67": Image.fromarray(_rgb(rng, 23, 67)).quantize(16),
        "bilevel_h31_w33": Image.fromarray(_rgb(rng, 31, 33)[..., 1] > 128),
    }
    for name, img in pics.items():
        img.save(folder / f"{name}.png", optimize=False)
    # stored 19 x 61, EXIF orientation 6: shown (and processed) rotated, 61 x 19
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_rgb(rng, 19, 61)).save(folder / "exif_rotated_h19_w61.png", exif=exif.tobytes(), optimize=False)
    return sorted(p.stem for p in folder.glob("*.png"))


def _image_cases():
    from transformers import (ConvNextImageProcessor, DetrImageProcessor, DPTImageProcessor, GLPNImageProcessor,
                              MaskFormerImageProcessor, SegformerImageProcessor, ViTImageProcessor)

    imagenet = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    few = ["rgb_h37_w53", "gray_h29_w41", "exif_rotated_h19_w61"]
    other = ["rgb_h53_w37", "palette_h23_w67", "rgba_h41_w41"]
    # (case, processor, pictures (None: all), batch: the pictures go in as one call)
    return [
        ("vit_reference", ViTImageProcessor(size={"height": 32, "width": 32}), None, False),
        ("vit_nearest_24x40", ViTImageProcessor(size={"height": 24, "width": 40}, resample=0), few, False),
        ("vit_bicubic_imagenet", ViTImageProcessor(size={"height": 30, "width": 30}, resample=3, **imagenet), other, False),
        ("vit_lanczos_no_normalize", ViTImageProcessor(size={"height": 16, "width": 16}, resample=1, do_normalize=False), None, False),
        ("vit_box_no_rescale", ViTImageProcessor(size={"height": 20, "width": 12}, resample=4, do_rescale=False), few, False),
        ("vit_hamming_no_resize", ViTImageProcessor(do_resize=False, resample=5, rescale_factor=1 / 127.5),
         ["bilevel_h31_w33", "palette_h23_w67"], False),
        ("convnext_reference", ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875), None, False),
        ("convnext_crop_half_bicubic", ConvNextImageProcessor(size={"shortest_edge": 20}, crop_pct=0.5, resample=3), few, False),
        ("convnext_crop_pct_above_one", ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.25), other, False),
        ("convnext_384_warp", ConvNextImageProcessor(size={"shortest_edge": 384}), ["rgb_h37_w53"], False),
        ("detr_reference", DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}), few, False),
        ("detr_reference_batch", DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}),
         ["rgb_h53_w37", "palette_h23_w67", "exif_rotated_h19_w61"], True),
        ("detr_longest_edge_bound", DetrImageProcessor(size={"shortest_edge": 30, "longest_edge": 40}),
         ["palette_h23_w67", "rgb_h53_w37", "exif_rotated_h19_w61"], False),
        ("detr_fixed_24x32", DetrImageProcessor(size={"height": 24, "width": 32}), other, False),
        ("maskformer_reference_batch", MaskFormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32),
         ["gray_h29_w41", "palette_h23_w67"], True),
        ("maskformer_divisor_16", MaskFormerImageProcessor(size={"shortest_edge": 24, "longest_edge": 40}, size_divisor=16),
         few, False),
        ("segformer_reference", SegformerImageProcessor(size={"height": 64, "width": 64}), ["rgba_h41_w41"], False),
        ("segformer_bicubic_no_normalize", SegformerImageProcessor(size={"height": 20, "width": 28}, resample=3,
                                                                   do_normalize=False), None, False),
        ("glpn_reference", GLPNImageProcessor(size_divisor=32), None, False),
        ("glpn_divisor_16_bicubic", GLPNImageProcessor(size_divisor=16, resample=3), other, False),
        ("dpt_reference", DPTImageProcessor(size={"height": 32, "width": 32}), None, False),
        ("depth_anything_reference", DPTImageProcessor(size={"height": 42, "width": 42}, keep_aspect_ratio=True,
                                                       ensure_multiple_of=14, resample=3, **imagenet),
         few + ["palette_h23_w67"], False),
        ("dpt_keep_ratio_pad", DPTImageProcessor(size={"height": 40, "width": 40}, keep_aspect_ratio=True, ensure_multiple_of=8,
                                                 do_pad=True, size_divisor=16), few, False),
    ]


def make_images() -> None:
    from transformers.image_utils import load_image

    names = make_pictures()
    paths = {n: str(OUT / "pictures" / f"{n}.png") for n in names}
    arrays: dict[str, np.ndarray] = {}
    doc: dict = {"transformers": transformers.__version__, "pictures": names, "decoded": {}, "cases": [], "bilinear": []}
    rgb = {}
    for n in names:
        rgb[n] = np.asarray(load_image(paths[n]))
        arrays[f"decoded/{n}"] = rgb[n]
        doc["decoded"][n] = list(rgb[n].shape)
    for case, proc, pictures, batch in _image_cases():
        entry = {"name": case, "config": saved_config(proc), "runs": []}
        pictures = names if pictures is None else pictures
        groups = [pictures] if batch else [[n] for n in pictures]
        for group in groups:
            run = {"pictures": group}
            try:
                out = proc(images=[load_image(paths[n]) for n in group], return_tensors="np")
            except Exception as e:  # noqa: BLE001 - recorded: the runtime must refuse the same input
                run["error"] = f"{type(e).__name__}: {e}"
            else:
                key = f"{case}/{'+'.join(group)}"
                run["outputs"] = {k: record(arrays, f"{key}/{k}", np.asarray(v)) | {"key": f"{key}/{k}"}
                                  for k, v in out.items()}
            entry["runs"].append(run)
        doc["cases"].append(entry)
    # YOLO-style letterbox resampling: torch's bilinear interpolate (half-pixel centres, no antialias)
    for n, (h, w) in [("rgb_h37_w53", (30, 42)), ("rgb_h37_w53", (20, 29)), ("rgb_h53_w37", (32, 22)),
                      ("palette_h23_w67", (22, 64)), ("exif_rotated_h19_w61", (7, 3))]:
        x = torch.from_numpy(rgb[n].copy()).permute(2, 0, 1)[None].float()
        y = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        key = f"bilinear/{n}/{h}x{w}"
        arrays[key] = y[0].permute(1, 2, 0).numpy().astype(np.float32)
        doc["bilinear"].append({"picture": n, "height": h, "width": w, "key": key})
    save_npz("images.npz", arrays)
    save_json("images.json", doc)


# -- audio feature extraction --------------------------------------------------------------------------------
def pcm16(x: np.ndarray) -> np.ndarray:
    """Waveforms are stored as 16-bit PCM (half the bytes); int16 / 32768 is exact in float32."""
    return np.clip(np.round(np.asarray(x, np.float64) * 32768), -32768, 32767).astype(np.int16)


def from_pcm16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(32768)


def _clips() -> dict[str, np.ndarray]:
    """16-bit PCM clips (int16): a tone in noise, a chirp filling the 1-s window, noise past it, a click, silence."""
    rng = np.random.default_rng(SEED)
    t = np.arange(2 * RATE) / RATE
    return {
        "tone_0.3s": pcm16(0.5 * np.sin(2 * np.pi * 440 * t[:4800]) + 0.02 * rng.standard_normal(4800)),
        "chirp_1s": pcm16(0.3 * np.sin(2 * np.pi * (100 + 3000 * t[:RATE]) * t[:RATE])),
        "noise_1.2s": pcm16(0.1 * rng.standard_normal(int(1.2 * RATE))),
        "click_10ms": pcm16(np.concatenate([[0.9], np.zeros(159)])),
        "silence_0.5s": np.zeros(RATE // 2, np.int16),
    }


def make_audio() -> None:
    import transformers.models.whisper.feature_extraction_whisper as fx
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    arrays: dict[str, np.ndarray] = {}
    clips = _clips()
    for name, wave in clips.items():
        arrays[f"clip/{name}"] = wave
    doc: dict = {"transformers": transformers.__version__, "rate": RATE, "clips": list(clips), "whisper": [], "wav2vec2": []}
    # Whisper: windows of 1 s (chunk_length) keep the files small; the arithmetic is the 30-s one. The
    # default (torch) path is what transformers computes with torch installed; its NumPy path is kept
    # for the 80-mel case, which the runtime reproduces to float32 rounding.
    for case, fe, names, numpy_too in [
        ("mel80_window1s", WhisperFeatureExtractor(feature_size=80, chunk_length=1), list(clips), True),
        ("mel128_window1s", WhisperFeatureExtractor(feature_size=128, chunk_length=1), ["tone_0.3s", "noise_1.2s"], False),
    ]:
        waves = [from_pcm16(clips[n]) for n in names]
        entry = {"name": case, "config": saved_config(fe), "clips": names, "keys": {}}
        entry["keys"]["torch"] = f"whisper/{case}/torch"
        arrays[entry["keys"]["torch"]] = fe(waves, sampling_rate=RATE, return_tensors="np")["input_features"].astype(np.float32)
        if numpy_too:
            saved = fx.is_torch_available
            fx.is_torch_available = lambda: False
            try:
                entry["keys"]["numpy"] = f"whisper/{case}/numpy"
                arrays[entry["keys"]["numpy"]] = fe(waves, sampling_rate=RATE, return_tensors="np")["input_features"].astype(np.float32)
            finally:
                fx.is_torch_available = saved
        doc["whisper"].append(entry)
    rng = np.random.default_rng(SEED + 1)
    pcm = [pcm16(rng.standard_normal(n) * s + o) for n, s, o in ((900, 0.1, 0.0), (401, 0.5, 0.2), (160, 0.01, -0.1))]
    waves = [from_pcm16(w) for w in pcm]
    for i, w in enumerate(pcm):
        arrays[f"wav2vec2/wave{i}"] = w
    for case, kwargs in [("defaults", {}), ("attention_mask", {"return_attention_mask": True}),
                         ("mask_pad_half", {"return_attention_mask": True, "padding_value": 0.5}),
                         ("no_normalize", {"do_normalize": False, "return_attention_mask": True, "padding_value": -1.0})]:
        fe = Wav2Vec2FeatureExtractor(**kwargs)
        entry = {"name": case, "config": saved_config(fe), "runs": []}
        for k, group in enumerate([[0, 1, 2], [1], [2, 0]]):
            out = fe([waves[i] for i in group], sampling_rate=RATE, padding=True, return_tensors="np")
            keys = {}
            for name, v in out.items():
                keys[name] = f"wav2vec2/{case}/{k}/{name}"
                arrays[keys[name]] = np.asarray(v)
            entry["runs"].append({"waves": group, "keys": keys})
        doc["wav2vec2"].append(entry)
    save_npz("audio.npz", arrays)
    save_json("audio.json", doc)


# -- CTC decoding and the speech-recognition pipeline ---------------------------------------------------------------
CTC_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "A", "B", "C", "D", "E", "H", "L", "O", "R", "T", "'"]
# The CTC stand-in: frame f covers samples [320 f, 320 f + 400) (wav2vec2's receptive field); the position
# of its largest sample, in 16 buckets of 25, names its token through this table. Normalisation (affine
# per chunk) cannot move an argmax, so the chunked and unchunked runs agree on every frame they share.
CTC_BUCKETS = [0, 0, 5, 5, 9, 0, 4, 11, 12, 0, 14, 13, 4, 0, 7, 10]


def _ctc_tokenizer(d: Path, **kwargs):
    from transformers import Wav2Vec2CTCTokenizer

    (d / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(CTC_VOCAB)}), encoding="utf-8")
    return Wav2Vec2CTCTokenizer(str(d / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|", **kwargs)


def ctc_settings(tok, ratio: int) -> dict:
    """processing["ctc"] as the exporter writes it (export: the CTC recipe's manifest)."""
    return {"id2token": {str(i): t for t, i in tok.get_vocab().items()}, "pad_token": tok.pad_token,
            "word_delimiter_token": getattr(tok, "word_delimiter_token", "|"),
            "do_lower_case": bool(getattr(tok, "do_lower_case", False)),
            "replace_word_delimiter_char": getattr(tok, "replace_word_delimiter_char", " "),
            "inputs_to_logits_ratio": int(ratio)}


def ctc_stand_in_logits(x: np.ndarray, frames: int) -> np.ndarray:
    """[n] samples -> [frames, vocab] float32 logits (see CTC_BUCKETS); the tests compute the same."""
    logits = np.zeros((frames, len(CTC_VOCAB)), np.float32)
    for f in range(frames):
        logits[f, CTC_BUCKETS[int(np.argmax(x[320 * f:320 * f + 400])) // 25]] = 8.0
    return logits


def _ctc_sequences(rng) -> dict[str, list[int]]:
    v = {t: i for i, t in enumerate(CTC_VOCAB)}
    P, D = v["<pad>"], v["|"]
    hello = [P, v["H"], v["H"], v["E"], P, v["L"], v["L"], P, v["L"], v["O"], P, D, D, P, v["A"], P, v["B"], v["B"], v["L"], v["E"], D]
    return {
        "hello_able": hello,
        "leading_trailing_delimiters": [D, D, P, v["T"], v["O"], D, P, v["C"], v["A"], v["T"], P, P, D, D, P],
        "specials_inside": [P, v["<s>"], v["A"], v["<unk>"], v["<unk>"], v["B"], D, v["</s>"], v["'"], v["T"], D, v["R"], P],
        "only_blanks": [P] * 7,
        "only_delimiters": [D, P, D, D],
        "one_frame": [v["D"]],
        "random_200": rng.choice(len(CTC_VOCAB), 200, p=_ctc_probs()).tolist(),
    }


def _ctc_probs() -> np.ndarray:
    p = np.ones(len(CTC_VOCAB))
    p[0], p[4], p[1:4] = 12.0, 4.0, 0.3
    return p / p.sum()


def make_ctc() -> None:
    from transformers import AutomaticSpeechRecognitionPipeline, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC
    from transformers.modeling_outputs import CausalLMOutput

    rng = np.random.default_rng(SEED)
    sequences = _ctc_sequences(rng)
    doc: dict = {"transformers": transformers.__version__, "vocab": CTC_VOCAB, "tokenizers": [], "pipeline": {}}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for case, kwargs in [("default", {}), ("lower_case", {"do_lower_case": True}),
                             ("underscore_delimiter", {"replace_word_delimiter_char": "_"})]:
            tok = _ctc_tokenizer(d, **kwargs)
            entry = {"name": case, "ctc": ctc_settings(tok, 320), "decode": {}, "batch_decode": None}
            for name, ids in sequences.items():
                full = tok.decode(ids, output_char_offsets=True, output_word_offsets=True)
                # the pipeline decodes CTC output with skip_special_tokens=False, then maps offsets to seconds
                stub = SimpleNamespace(type="ctc", framework="pt", tokenizer=tok,
                                       model=SimpleNamespace(config=SimpleNamespace(inputs_to_logits_ratio=320)),
                                       feature_extractor=SimpleNamespace(sampling_rate=RATE))
                chunks = {kind: AutomaticSpeechRecognitionPipeline.postprocess(
                    stub, [{"tokens": torch.tensor([ids]), "is_last": True}], return_timestamps=kind)["chunks"]
                    for kind in ("char", "word")}
                entry["decode"][name] = {"ids": ids, "text": tok.decode(ids), "offsets_text": full["text"],
                                         "char_offsets": full["char_offsets"], "word_offsets": full["word_offsets"],
                                         "chunks": chunks}
            batch = [sequences["hello_able"], sequences["specials_inside"] + [0] * 8]
            bd = tok.batch_decode(batch, output_char_offsets=True)
            entry["batch_decode"] = {"ids": batch, "text": list(bd["text"]), "char_offsets": bd["char_offsets"]}
            doc["tokenizers"].append(entry)

        # The whole pipeline, chunked and not, with the stand-in network (weights unused).
        tok = _ctc_tokenizer(d)
        cfg = Wav2Vec2Config(vocab_size=len(CTC_VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=16, conv_dim=(8,) * 7, pad_token_id=0)
        model = Wav2Vec2ForCTC(cfg).eval()

        def stand_in(input_values, attention_mask=None, **_):
            frames = int(model._get_feat_extract_output_lengths(input_values.shape[-1]))
            x = input_values.detach().numpy()
            return CausalLMOutput(logits=torch.from_numpy(np.stack([ctc_stand_in_logits(r, frames) for r in x])))

        model.forward = stand_in
        fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True,
                                      return_attention_mask=False)
        asr = AutomaticSpeechRecognitionPipeline(model=model, tokenizer=tok, feature_extractor=fe)
        t = np.arange(int(1.6 * RATE)) / RATE
        pcm = pcm16(0.4 * np.sin(2 * np.pi * 1.3 * t) + 0.25 * np.sin(2 * np.pi * 7.1 * t + 1) + 0.12 * np.sin(2 * np.pi * 23 * t)
                    + 0.02 * rng.standard_normal(t.size))
        wave = from_pcm16(pcm)
        runs = []
        for kwargs in [{}, {"return_timestamps": "char"}, {"return_timestamps": "word"},
                       {"chunk_length_s": 0.6, "stride_length_s": 0.1},
                       {"chunk_length_s": 0.6, "stride_length_s": 0.1, "return_timestamps": "word"},
                       {"chunk_length_s": 0.5, "stride_length_s": (0.05, 0.15), "return_timestamps": "char"}]:
            runs.append({"kwargs": kwargs, "result": jsonable(asr(wave.copy(), **kwargs))})
        doc["pipeline"] = {"ctc": ctc_settings(tok, cfg.inputs_to_logits_ratio), "audio": saved_config(fe),
                           "conv_kernel": list(cfg.conv_kernel), "conv_stride": list(cfg.conv_stride),
                           "buckets": CTC_BUCKETS, "wave_key": "wave", "runs": runs}
    save_npz("ctc.npz", {"wave": pcm})
    save_json("ctc.json", jsonable(doc))


# -- NMS: the published greedy algorithm in plain torch (float64 IoU), no torchvision ---------------------------------
def _iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = (box[2:] - box[:2]).prod() + (boxes[:, 2:] - boxes[:, :2]).prod(1) - inter
    return torch.where(union > 0, inter / torch.where(union > 0, union, torch.ones_like(union)), torch.zeros_like(union))


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS per class: visit boxes by score (descending, ties in input order), keep one unless a kept
    box of the same class overlaps it with IoU > iou_threshold."""
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes.double()
    keep: list[int] = []
    for i in order.tolist():
        if keep:
            kept = torch.tensor(keep)
            same = labels[kept] == labels[i]
            if bool(((_iou(boxes[i], boxes[kept]) > iou_threshold) & same).any()):
                continue
        keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def reference_detect(boxes, scores, threshold, iou_threshold, max_detections):
    anchor, label = torch.nonzero(scores > threshold, as_tuple=True)
    cand = scores[anchor, label]
    keep = reference_nms(boxes[anchor], cand, label, iou_threshold)[:max_detections]
    return anchor[keep], label[keep], cand[keep]


def reference_onnx_nms(boxes, scores, threshold, iou_threshold, max_per_class):
    """ONNX NonMaxSuppression's selected_indices [K, 3] (batch, class, box) for one batch item [N, 4], [N, C]."""
    rows = []
    for c in range(scores.shape[1]):
        cand = torch.nonzero(scores[:, c] > threshold).reshape(-1)
        keep = reference_nms(boxes[cand], scores[cand, c], torch.zeros(len(cand), dtype=torch.int64), iou_threshold)
        rows += [(0, c, int(cand[k])) for k in keep[:max_per_class]]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def _nms_inputs(rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    def random_boxes(n, size=64.0):
        xy = rng.uniform(0, size * 0.8, (n, 2))
        wh = rng.uniform(2, size * 0.4, (n, 2))
        return np.concatenate([xy, xy + wh], 1).astype(np.float32)

    out = {}
    out["random_60x4"] = (random_boxes(60), rng.uniform(0, 1, (60, 4)).astype(np.float32))
    centres = random_boxes(6)
    jitter = np.repeat(centres, 8, 0) + rng.normal(0, 1.5, (48, 4)).astype(np.float32)
    jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 0.5)
    out["clusters_48x3"] = (jitter.astype(np.float32), rng.uniform(0, 1, (48, 3)).astype(np.float32) ** 0.5)
    # exact ties, an IoU of exactly 0.5 (kept at iou_threshold 0.5), zero-area and identical boxes
    b = np.array([[0, 0, 2, 1], [0, 0, 1, 1], [0, 0, 2, 1], [5, 5, 5, 9], [5, 5, 5, 9], [10, 10, 14, 14],
                  [11, 10, 15, 14], [10, 10, 14, 14], [0, 0, 1, 1]], np.float32)
    s = np.array([[0.9, 0.1], [0.8, 0.8], [0.9, 0.1], [0.7, 0.7], [0.7, 0.6], [0.6, 0.3], [0.6, 0.3], [0.6, 0.6],
                  [0.8, 0.2]], np.float32)
    out["ties_and_edges_9x2"] = (b, s)
    out["empty_0x3"] = (np.zeros((0, 4), np.float32), np.zeros((0, 3), np.float32))
    return out


def make_nms() -> None:
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    doc: dict = {"algorithm": "greedy class-aware NMS, IoU > threshold suppresses, stable score order, float64 IoU",
                 "inputs": {}, "detect": [], "selected": []}
    settings = [(0.25, 0.45, 100), (0.1, 0.7, 10), (0.5, 0.3, 5), (0.0, 0.5, 100), (0.65, 0.0, 100)]
    for name, (boxes, scores) in _nms_inputs(rng).items():
        arrays[f"{name}/boxes"], arrays[f"{name}/scores"] = boxes, scores
        doc["inputs"][name] = {"boxes": f"{name}/boxes", "scores": f"{name}/scores"}
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        for thr, iou, md in settings:
            anchor, label, score = reference_detect(tb, ts, thr, iou, md)
            doc["detect"].append({"input": name, "threshold": thr, "iou_threshold": iou, "max_detections": md,
                                  "anchors": anchor.tolist(), "labels": label.tolist(), "scores": score.tolist()})
            sel = reference_onnx_nms(tb, ts, thr, iou, md)
            # the runtime re-ranks an engine's selected_indices: by score, ties by box index, max_detections
            s = scores[sel[:, 2], sel[:, 1]] if len(sel) else np.zeros(0, np.float32)
            order = sorted(range(len(sel)), key=lambda k: (-float(s[k]), int(sel[k, 2])))[:md]
            doc["selected"].append({"input": name, "threshold": thr, "iou_threshold": iou, "max_detections": md,
                                    "selected_indices": sel.tolist(), "anchors": [int(sel[k, 2]) for k in order],
                                    "labels": [int(sel[k, 1]) for k in order]})
    save_npz("nms.npz", arrays)
    save_json("nms.json", doc)


# -- text: tokenizers, settings, windows ---------------------------------------------------------------------------------
CORPUS = [
    "Alice Johnson moved from Paris to Berlin in 2019 to work for Siemens.",
    "The United Nations held a meeting in New York about climate change.",
    "Bob and Carol visited the Louvre museum while they were in France.",
    "Microsoft announced a partnership with OpenAI in San Francisco.",
    "Marie Curie won the Nobel Prize in physics and later in chemistry.",
    "The river Thames flows through London before reaching the North Sea.",
    "Dr. Smith's clinic in Boston treats patients from all over Massachusetts.",
    "Tokyo, Osaka and Kyoto are three of the largest cities in Japan.",
    "Amazon opened a new warehouse near Seattle, hiring hundreds of workers.",
    "Gabriel García Márquez wrote novels that are read around the world.",
    "The Eiffel Tower was completed in 1889 for the World's Fair.",
    "Angela Merkel served as chancellor of Germany for sixteen years.",
    "Barcelona won the match against Real Madrid on Sunday evening.",
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Researchers at Stanford University published a paper on proteins.",
    "She bought apples, oranges and bananas at the market in Lyon.",
]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "MISC"]
MAX_LEN = 64  # model_max_length of both tokenizers: long inputs need windows


def _wordpiece():
    """BERT-style lower-case WordPiece. Its vocabulary is built by rule, not trained (WordPieceTrainer breaks
    ties in hash order, so re-running would change it): every character alone and as a "##" piece, the
    words seen twice, 3-letter prefixes of the rest, and a few suffixes, so words split into subwords."""
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = Counter(w for line in CORPUS for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)))
    chars = sorted({c for w in words for c in w})
    pieces = [*chars, *(f"##{c}" for c in chars), *sorted(w for w, n in words.items() if n >= 2 and len(w) > 1),
              *sorted({w[:3] for w, n in words.items() if n == 1 and len(w) > 4}),
              "##ing", "##ed", "##er", "##s", "##ly", "##tion", "##on", "##an", "##es"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(special + pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                             mask_token="[MASK]", model_max_length=MAX_LEN)


def _byte_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=500, special_tokens=special, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                                   cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=MAX_LEN,
                                   model_input_names=["input_ids", "attention_mask"])


def tokenizer_settings(tok) -> dict:
    """processing["tokenizer"] as the exporter writes it (export: text_common.tokenizer_settings)."""
    out = {"model_max_length": int(tok.model_max_length), "padding_side": tok.padding_side,
           "model_input_names": list(tok.model_input_names),
           "clean_up_tokenization_spaces": bool(getattr(tok, "clean_up_tokenization_spaces", False))}
    for name in ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token"):
        value = getattr(tok, name, None)
        if value is not None:
            out[name] = str(value)
    return out


def tokenizers() -> dict:
    """name -> (transformers tokenizer, tokenizer.json file name); the files are written once."""
    folder = OUT / "text"
    folder.mkdir(exist_ok=True)
    wp, bpe = _wordpiece(), _byte_bpe()
    for name, tok in (("wordpiece", wp), ("bytebpe", bpe)):
        (folder / f"{name}.json").write_text(tok.backend_tokenizer.to_str(), encoding="utf-8")
    left = _byte_bpe()
    left.padding_side = "left"
    return {"wordpiece": (wp, "text/wordpiece.json"), "bytebpe": (bpe, "text/bytebpe.json"),
            "bytebpe_left": (left, "text/bytebpe.json")}


LONG_TEXT = (" ".join(CORPUS[:4]))
TEXTS = ["Alice Johnson moved to Berlin.", "The meeting in New York was about climate change, said Dr. Smith.",
         "Zürich ☃ and Kyōto: unknown symbols ¤!", "  Leading and trailing spaces   ", "Barcelona"]


def make_text(toks: dict) -> None:
    doc: dict = {"transformers": transformers.__version__, "tokenizers": {}, "encode": [], "decode": [], "windows": []}
    for variant, (tok, file) in toks.items():
        doc["tokenizers"][variant] = {"file": file, "settings": tokenizer_settings(tok)}
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tok.model_input_names]
        for texts, pairs, max_length in [(TEXTS[:1], None, None), (TEXTS, None, None), (TEXTS[:3], TEXTS[1:4], None),
                                         ([LONG_TEXT, TEXTS[0]], None, None), ([LONG_TEXT], [TEXTS[1]], 20),
                                         (TEXTS[1:3], None, 9)]:
            out = tok(texts, pairs, padding=True, truncation=True, max_length=max_length or MAX_LEN,
                      return_token_type_ids=True)
            doc["encode"].append({"tokenizer": variant, "texts": texts, "pairs": pairs, "max_length": max_length,
                                  "arrays": {n: out[n] for n in names}})
        for text in TEXTS + [LONG_TEXT]:
            ids = tok(text)["input_ids"]
            for skip in (True, False):
                doc["decode"].append({"tokenizer": variant, "ids": ids, "skip_special_tokens": skip,
                                      "text": tok.decode(ids, skip_special_tokens=skip)})
        # windows over a long text, as the tokenizer's overflow makes them
        for max_length, stride in [(32, 8), (16, 0), (20, 5), (12, 7)]:
            out = tok(LONG_TEXT, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True)
            doc["windows"].append({"tokenizer": variant, "text": LONG_TEXT, "max_length": max_length, "stride": stride,
                                   "input_ids": out["input_ids"]})
    save_json("text.json", jsonable(doc))


# -- spans: question answering and token classification through the transformers pipelines -------------------------------
def _stand_in_tables(vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    ner = rng.normal(0, 2.5, (vocab, len(NER_LABELS))).astype(np.float32)
    ner[:, 0] += 1.5  # most tokens are "O"
    return {"ner": ner, "qa_start": rng.normal(0, 3, vocab).astype(np.float32),
            "qa_end": rng.normal(0, 3, vocab).astype(np.float32)}


QA_CASES = [
    ({}, "Where did Alice move?", "Alice Johnson moved from Paris to Berlin in 2019 to work for Siemens."),
    ({"top_k": 3}, "Who won the prize?", "Marie Curie won the Nobel Prize in physics and later in chemistry."),
    ({"top_k": 4, "handle_impossible_answer": True}, "What flows?", "The river Thames flows through London before reaching the North Sea."),
    ({"max_answer_len": 2, "top_k": 2}, "Which cities?", "Tokyo, Osaka and Kyoto are three of the largest cities in Japan."),
    ({"align_to_words": False, "top_k": 3}, "Who wrote novels?", "Gabriel García Márquez wrote novels that are read around the world."),
    ({"top_k": 2}, "Where is the museum?", " ".join(CORPUS[:5])),  # several windows, default doc_stride
    ({"doc_stride": 4, "max_seq_len": 20, "top_k": 3, "handle_impossible_answer": True}, "Who?", " ".join(CORPUS[5:9])),
]
TC_TEXTS = TEXTS[:3] + ["Dr. Smith's clinic in Boston treats patients from Massachusetts."]


def make_spans(toks: dict) -> None:
    from transformers import (BertConfig, BertForQuestionAnswering, BertForTokenClassification,
                              QuestionAnsweringPipeline, TokenClassificationPipeline)
    from transformers.modeling_outputs import QuestionAnsweringModelOutput, TokenClassifierOutput
    from transformers.pipelines.question_answering import select_starts_ends

    arrays: dict[str, np.ndarray] = {}
    doc: dict = {"transformers": transformers.__version__, "labels": NER_LABELS, "tables": {}, "select": [],
                 "qa": [], "token_classification": [], "qa_windows": [], "tc_windows": []}
    # select_starts_ends on fixed logits
    rng = np.random.default_rng(SEED + 2)
    for k, (n, opts) in enumerate([(12, {}), (12, {"top_k": 5}), (20, {"top_k": 3, "handle_impossible_answer": True}),
                                   (9, {"top_k": 50, "max_answer_len": 3}), (16, {"top_k": 4, "max_answer_len": 1}),
                                   (30, {"top_k": 10, "handle_impossible_answer": True, "max_answer_len": 30})]):
        start, end = (rng.normal(0, 2, (1, n)).astype(np.float32) for _ in range(2))
        p_mask = (rng.uniform(size=n) < 0.3).astype(np.int64)
        p_mask[0] = 0
        attention = np.ones(n, np.int64)
        attention[n - n // 5:] = 0
        s, e, sc, null = select_starts_ends(start, end, p_mask, attention, 1000000, opts.get("top_k", 1),
                                            opts.get("handle_impossible_answer", False), opts.get("max_answer_len", 15))
        for name, v in (("start", start), ("end", end), ("p_mask", p_mask), ("attention_mask", attention)):
            arrays[f"select{k}/{name}"] = v
        doc["select"].append({"key": f"select{k}", "options": opts, "starts": s, "ends": e, "scores": sc, "min_null_score": null})

    for variant, (tok, file) in toks.items():
        vocab = len(tok)
        tables = _stand_in_tables(vocab)  # seeded: one table per tokenizer file
        stem = Path(file).stem
        for name, v in tables.items():
            arrays[f"{stem}/{name}"] = v
        doc["tables"][variant] = {name: f"{stem}/{name}" for name in tables}
        cfg = BertConfig(vocab_size=vocab, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                         id2label=dict(enumerate(NER_LABELS)), label2id={lab: i for i, lab in enumerate(NER_LABELS)})
        qa_model, tc_model = BertForQuestionAnswering(cfg).eval(), BertForTokenClassification(cfg).eval()
        qa_model.forward = lambda input_ids, tables=tables, **_: QuestionAnsweringModelOutput(
            start_logits=torch.from_numpy(tables["qa_start"][input_ids.numpy()]),
            end_logits=torch.from_numpy(tables["qa_end"][input_ids.numpy()]))
        tc_model.forward = lambda input_ids, tables=tables, **_: TokenClassifierOutput(logits=torch.from_numpy(tables["ner"][input_ids.numpy()]))
        qa = QuestionAnsweringPipeline(model=qa_model, tokenizer=tok)
        tc = TokenClassificationPipeline(model=tc_model, tokenizer=tok)
        for opts, question, context in QA_CASES:
            result = qa(question=question, context=context, **opts)
            doc["qa"].append({"tokenizer": variant, "question": question, "context": context, "options": opts,
                              "result": jsonable(result)})
            max_seq_len = opts.get("max_seq_len", min(tok.model_max_length, 384))
            stride = opts.get("doc_stride", min(max_seq_len // 2, 128))
            feats = [f["input_ids"][0].tolist() for f in qa.preprocess({"question": question, "context": context}, doc_stride=stride,
                                                       max_seq_len=max_seq_len)]
            doc["qa_windows"].append({"tokenizer": variant, "question": question, "context": context,
                                      "max_seq_len": max_seq_len, "doc_stride": stride, "input_ids": jsonable(feats)})
        # the left-padding variant differs from its right-padding twin where windows are padded together
        for text in TC_TEXTS if variant != "bytebpe_left" else TC_TEXTS[:1]:
            for strategy in ("none", "simple", "first", "average", "max"):
                doc["token_classification"].append({"tokenizer": variant, "text": text, "options": {"aggregation_strategy": strategy},
                                                    "result": jsonable(tc(text, aggregation_strategy=strategy))})
        doc["token_classification"].append({"tokenizer": variant, "text": TC_TEXTS[1],
                                            "options": {"aggregation_strategy": "simple", "ignore_labels": []},
                                            "result": jsonable(tc(TC_TEXTS[1], aggregation_strategy="simple", ignore_labels=[]))})
        for stride in (6, 11):  # a text longer than the model: overlapping windows (tokenizer overflow, padded together)
            for strategy in ("simple", "first", "average", "max"):
                doc["token_classification"].append({"tokenizer": variant, "text": LONG_TEXT,
                                                    "options": {"aggregation_strategy": strategy, "stride": stride},
                                                    "result": jsonable(tc(LONG_TEXT, aggregation_strategy=strategy, stride=stride))})
            chunks = list(tc.preprocess(LONG_TEXT, is_split_into_words=False, tokenizer_params={"return_overflowing_tokens": True, "padding": True,
                                                                     "stride": stride}))
            doc["tc_windows"].append({"tokenizer": variant, "text": LONG_TEXT, "stride": stride,
                                      "input_ids": [c["input_ids"][0].tolist() for c in chunks]})
    save_npz("spans.npz", arrays)
    save_json("spans.json", jsonable(doc))


# -- long-audio windows ----------------------------------------------------------------------------------------------------
def make_windows() -> None:
    from transformers.pipelines.automatic_speech_recognition import chunk_iter, rescale_stride

    class Passthrough:
        sampling_rate = RATE

        def __call__(self, chunk, **_):
            return {"input_values": torch.from_numpy(np.asarray(chunk))}

    doc: dict = {"transformers": transformers.__version__, "rate": RATE, "audio_chunks": []}
    for seconds, chunk_s, stride_s, align_to in [(10.3, 3, None, 1), (10.3, 3, 0.5, 1), (6.1, 3, (0.4, 0.2), 1),
                                                 (2.9, 3, 0.5, 1), (9.5, 1, 0.25, 320), (6, 3, 0.5, 1), (3, 1, 0.2, 320),
                                                 (1.05, 0.5, 0.2, 320)]:
        n = int(RATE * seconds)
        wave = np.arange(n, dtype=np.float32)  # sample i holds i: each chunk's first value is its start
        left, right = (chunk_s / 6,) * 2 if stride_s is None else (stride_s,) * 2 if np.isscalar(stride_s) else stride_s
        chunk_len, sl, sr = (int(round(s * RATE / align_to) * align_to) for s in (chunk_s, left, right))
        chunks = []
        for c in chunk_iter(wave, Passthrough(), chunk_len, sl, sr):
            x = c["input_values"].numpy()
            item = {"start": int(x[0]), "length": int(x.size), "stride": list(c["stride"]), "is_last": bool(c["is_last"])}
            if align_to > 1:  # the logits frames the pipeline keeps of this chunk (rescale_stride, then the cut)
                token_n, left_n, right_n = rescale_stride([c["stride"]], 1 / align_to)[0]
                item["frames_kept"] = [left_n, token_n - right_n]
            chunks.append(item)
        doc["audio_chunks"].append({"samples": n, "chunk_s": chunk_s, "stride_s": stride_s, "align_to": align_to,
                                    "chunks": chunks})
    save_json("windows.json", jsonable(doc))


SECTIONS = {"images": make_images, "audio": make_audio, "ctc": make_ctc, "nms": make_nms, "windows": make_windows}


def main(argv: list[str]) -> None:
    torch.manual_seed(SEED)
    wanted = argv or [*SECTIONS, "text", "spans"]
    for name in wanted:
        if name in SECTIONS:
            SECTIONS[name]()
    if {"text", "spans"} & set(wanted):
        toks = tokenizers()
        if "text" in wanted:
            make_text(toks)
        if "spans" in wanted:
            make_spans(toks)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"golden data: {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
