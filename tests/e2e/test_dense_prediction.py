"""image-segmentation (SegFormer semantic; MaskFormer panoptic, instance and semantic) and depth-estimation (GLPN,
DPT, Depth Anything) end to end on ONNX Runtime and
OpenVINO, against transformers' pipelines (PIL image processors) on the same weights; the NumPy upsampling
against torch's interpolate; metrics, --save pictures and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_invoke import invoke_cli as _cli
from PIL import Image

from edgetool.export.families.dense import dense_images
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

BACKENDS = ["onnxruntime", "openvino"]
SEG, DEPTH = "image-segmentation", "depth-estimation"
# depth-anything and zoedepth: keep_aspect_ratio, dynamic H/W; zoedepth: reflection padding removed afterwards
DEPTH_REFS = ["glpn-tiny", "dpt-tiny", "depth-anything-tiny", "zoedepth-tiny"]


def pictures() -> list[Image.Image]:
    """The golden sample pictures plus a wide and a tall one of odd sizes."""
    rng = np.random.default_rng(5)
    extra = [np.kron(rng.integers(0, 255, (5, 11, 3)), np.ones((7, 9, 1))).astype(np.uint8),
             rng.integers(0, 255, (101, 33, 3)).astype(np.uint8)]
    return [Image.fromarray(a) for a in dense_images() + extra]


@pytest.fixture(scope="module")
def seg(bundle_dir):
    return bundle_dir(SEG, target="openvino", reference="segformer-tiny")


@pytest.fixture(scope="module")
def maskformer(bundle_dir):
    return bundle_dir(SEG, target="openvino", reference="maskformer-tiny")


@pytest.fixture(scope="module")
def depth(bundle_dir):
    return {r: bundle_dir(DEPTH, target="openvino", reference=r) for r in DEPTH_REFS}


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return {"segformer-tiny": hf_pipeline(SEG, model=str(reference_dir("segformer-tiny"))),
            "maskformer-tiny": hf_pipeline(SEG, model=str(reference_dir("maskformer-tiny"))),
            **{r: hf_pipeline(DEPTH, model=str(reference_dir(r))) for r in DEPTH_REFS}}


# -- segmentation ---------------------------------------------------------------------------------
def mask_mismatch(a: list, b: list, score_tol: float = 1.01e-6) -> int:
    """Pixels whose mask differs, after checking both give the same labels (and scores) in the same order."""
    assert [d["label"] for d in a] == [d["label"] for d in b]
    assert [d["score"] is None for d in a] == [d["score"] is None for d in b]
    assert max((abs(x["score"] - y["score"]) for x, y in zip(a, b) if x["score"] is not None), default=0) <= score_tol
    for d in a + b:
        assert d["mask"].mode == "L" and set(np.unique(np.asarray(d["mask"]))) <= {0, 255}
    return sum(int((np.asarray(x["mask"]) != np.asarray(y["mask"])).sum()) for x, y in zip(a, b))


@pytest.mark.family("image-segmentation", "segformer")
@pytest.mark.parametrize("backend", BACKENDS)
def test_segformer_matches_transformers_pipeline(seg, hf, backend):
    ours, ref = pipeline(seg, backend=backend), hf["segformer-tiny"]
    pics = pictures()
    a, b = ours(pics), ref(pics, subtask="semantic")
    assert len(a) == len(b) == len(pics)
    for pic, ra, rb in zip(pics, a, b):
        assert all(d["mask"].size == pic.size for d in ra)
        assert mask_mismatch(ra, rb) == 0
    assert max(len(r) for r in a) >= 3, "the reference should find several classes, or masks prove little"
    single = ours(pics[0], subtask="semantic")
    assert isinstance(single, list) and mask_mismatch(single, ref(pics[0])) == 0  # default subtask: semantic


MASKFORMER_OPTIONS = [{}, {"subtask": "semantic"}, {"threshold": 0.5, "overlap_mask_area_threshold": 0.3},
                      {"subtask": "panoptic", "mask_threshold": 0.3}, {"subtask": "instance", "threshold": 0.5},
                      {"subtask": "instance"}]


@pytest.mark.family("image-segmentation", "maskformer")
@pytest.mark.parametrize("backend", BACKENDS)
def test_maskformer_matches_transformers_pipeline(maskformer, hf, backend):
    """Default subtask (panoptic), instance, semantic and changed thresholds; pictures one by one (the pipeline's
    way). Instance scores average mask probabilities over the pixels whose logit is > 0, so the engines' ~1e-6
    logit differences move them by a few 1e-6 (on torch's own outputs the NumPy code gives them exactly)."""
    ours, ref = pipeline(maskformer, backend=backend), hf["maskformer-tiny"]
    pics = pictures() + [Image.fromarray(np.random.default_rng(7).integers(0, 255, (300, 500, 3)).astype(np.uint8))]
    counts, wrong, total = [], 0, 0
    for kw in MASKFORMER_OPTIONS:
        for pic in pics:
            a, b = ours(pic, **kw), ref(pic, **kw)
            wrong += mask_mismatch(a, b, score_tol=1e-5)
            total += pic.width * pic.height * len(a)
            counts.append(len(a))
    # a pixel on an exact tie between two upsampled masks may go either way (float32 rounding order)
    assert wrong <= 1e-3 * total, f"{wrong} of {total} mask pixels differ"
    assert 0 in counts and max(counts) >= 2, "cases with no segment and with several must both be covered"
    batch = ours(pics[:3])
    assert [[d["label"] for d in r] for r in batch] == [[d["label"] for d in ours(p)] for p in pics[:3]]


def test_instance_order_and_scores_equal_transformers_on_torch_outputs(reference_dir):
    """The NumPy instance post-processing on the PyTorch model's own outputs: identical scores, labels and masks
    (the order comes from the ported topk(sorted=False) selection)."""
    from transformers import MaskFormerForInstanceSegmentation, MaskFormerImageProcessor

    from edgetool.runtime.postprocess.segmentation import instance_segments

    ckpt = reference_dir("maskformer-tiny")
    model, hp = MaskFormerForInstanceSegmentation.from_pretrained(ckpt).eval(), MaskFormerImageProcessor.from_pretrained(ckpt)
    for pic in pictures():
        with torch.no_grad():
            out = model(**hp(pic, return_tensors="pt"))
        for thr in (0.0, 0.6):
            ref = hp.post_process_instance_segmentation(out, threshold=thr, target_sizes=[(pic.height, pic.width)])[0]
            got = instance_segments(out.class_queries_logits[0].numpy(), out.masks_queries_logits[0].numpy(),
                                    (pic.height, pic.width), thr)
            assert [(s["label_id"], s["score"]) for s in ref["segments_info"]] == [(lab, sc) for lab, sc, _ in got]
            for s, (_, _, mask) in zip(ref["segments_info"], got):
                np.testing.assert_array_equal((ref["segmentation"] == s["id"]).numpy(), mask)


def test_topk_order_matches_torch():
    from edgetool.runtime.postprocess.topk_order import topk_unsorted

    rng = np.random.default_rng(0)
    for trial in range(600):
        n = int(rng.integers(1, 300))
        k = int(rng.integers(1, n + 1))
        x = rng.random(n).astype(np.float32)
        if trial % 3 == 0:  # clustered values
            x = np.round(x * 5).astype(np.float32) / 5 + rng.random(n).astype(np.float32) * 1e-3
        np.testing.assert_array_equal(topk_unsorted(x, k), torch.from_numpy(x).topk(k, sorted=False).indices.numpy())


def test_semantic_upsampling_matches_torch():
    from edgetool.runtime.postprocess import segmentation as mod

    rng = np.random.default_rng(0)
    for (h, w), size in [((16, 16), (37, 53)), ((16, 16), (1, 1)), ((8, 12), (600, 7)), ((16, 16), (16, 16))]:
        logits = rng.standard_normal((5, h, w)).astype(np.float32) * 4
        t = torch.nn.functional.interpolate(torch.from_numpy(logits)[None], size=size, mode="bilinear",
                                            align_corners=False)[0]
        np.testing.assert_array_equal(mod.semantic_map(logits, size), t.argmax(0).numpy())
    assert mod.ROW_BLOCK < 600  # the (600, 7) case crossed a row block


def test_argmax_and_present_classes_helpers():
    from edgetool.runtime.postprocess.segmentation import argmax0, present_classes

    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal((6, 30, 40)).astype(np.float32))  # many ties: the first maximum wins
    np.testing.assert_array_equal(argmax0(x), x.argmax(0))
    np.testing.assert_array_equal(argmax0(x), torch.from_numpy(x).argmax(0).numpy())
    seg = argmax0(x).astype(np.uint8)
    np.testing.assert_array_equal(present_classes(seg, 6), np.unique(seg))


def test_semantic_map_memory_follows_the_output():
    import tracemalloc

    from edgetool.runtime.postprocess.segmentation import semantic_map

    logits = np.random.default_rng(0).standard_normal((5, 16, 16)).astype(np.float32)
    tracemalloc.start()
    out = semantic_map(logits, (4000, 3000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (4000, 3000) and out.dtype == np.uint8
    # the label map itself is 12 MB; C x H x W float32 logits would be 240 MB
    assert peak < 60 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_depth_upsampling_memory_follows_the_output():
    import tracemalloc

    from edgetool.runtime.postprocess.depth import depth_image, upsample_depth

    pred = np.random.default_rng(0).random((24, 16)).astype(np.float32)
    tracemalloc.start()
    depth = upsample_depth(pred, (4000, 3000))
    gray = depth_image(depth)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert depth.shape == (4000, 3000) and gray.size == (3000, 4000)
    # the float32 map (48 MB) and the 8-bit picture (12 MB) are the result; temporaries stay small
    assert peak < 110 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    t = torch.nn.functional.interpolate(torch.from_numpy(pred)[None, None], size=(4000, 3000), mode="bicubic",
                                        align_corners=False)[0, 0].numpy()
    assert np.abs(depth - t).max() <= 1e-5 * np.abs(t).max()


def test_mean_iou_metric():
    from edgetool.check.golden import to_jsonable
    from edgetool.check.metrics import METRICS
    from edgetool.runtime.tasks import get_task

    miou = METRICS[get_task(SEG).metric]

    def seg_of(labels: np.ndarray) -> list:
        return [{"score": None, "label": f"c{c}", "mask": Image.fromarray((labels == c).astype(np.uint8) * 255, "L")}
                for c in np.unique(labels)]

    lab = np.zeros((10, 10), np.int64)
    lab[:, 5:] = 1
    ref = [seg_of(lab)]
    assert miou(ref, ref) == 1.0 and miou(to_jsonable(ref), to_jsonable(ref)) == 1.0  # golden (PNG) form
    moved = lab.copy()
    moved[:, 4] = 1  # c0: 40/50, c1: 50/60
    assert abs(miou(ref, [seg_of(moved)]) - (40 / 50 + 50 / 60) / 2) < 1e-12
    assert abs(miou(to_jsonable(ref), to_jsonable([seg_of(moved)])) - (40 / 50 + 50 / 60) / 2) < 1e-12
    extra = lab.copy()
    extra[0, 0] = 2  # a class the reference does not have counts as IoU 0
    assert miou(ref, [seg_of(extra)]) < 2 / 3 and miou(ref, []) == 0.0
    assert miou([[seg_of(lab), seg_of(moved)]], [[seg_of(lab), seg_of(moved)]]) == 1.0  # a batch sample


# -- depth ----------------------------------------------------------------------------------------
@pytest.mark.family("depth-estimation", "glpn")
@pytest.mark.family("depth-estimation", "dpt")
@pytest.mark.family("depth-estimation", "depth-anything")
@pytest.mark.family("depth-estimation", "zoedepth")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ref_name", DEPTH_REFS)
def test_depth_matches_transformers_pipeline(depth, hf, ref_name, backend):
    ours, ref = pipeline(depth[ref_name], backend=backend), hf[ref_name]
    pics = pictures()
    a, b = ours(pics), ref(pics)
    worst_rel, off_levels = 0.0, 0
    for pic, ra, rb in zip(pics, a, b):
        pa, pb = ra["predicted_depth"], rb["predicted_depth"].numpy()
        assert pa.shape == pb.shape == (pic.height, pic.width) and pa.dtype == np.float32
        worst_rel = max(worst_rel, float(np.abs(pa - pb).max() / np.abs(pb).max()))
        da, db = np.asarray(ra["depth"]), np.asarray(rb["depth"])
        assert ra["depth"].mode == rb["depth"].mode == "L" and da.shape == db.shape
        diff = np.abs(da.astype(int) - db.astype(int))
        assert diff.max() <= 1  # truncation to uint8 may flip at a float32 rounding boundary
        off_levels += int((diff > 0).sum())
    assert worst_rel < 1e-5, worst_rel
    # zoedepth-tiny's depths span only ~0.04 (0.68-0.72), so the min-max stretch to 0-255 turns its float
    # rounding (~3e-6) into one-level flips on ~0.2% of the 22k pixels; every other ref stays within 5
    assert off_levels <= (60 if ref_name == "zoedepth-tiny" else 5), f"{off_levels} depth-image pixels one level off"
    single = ours(pics[0])
    assert isinstance(single, dict) and np.array_equal(np.asarray(single["depth"]), np.asarray(a[0]["depth"]))


def test_bicubic_and_bilinear_match_torch():
    from edgetool.runtime.postprocess.interpolate import Resizer, interpolate

    rng = np.random.default_rng(0)
    for mode in ("bilinear", "bicubic"):
        for (h, w), size in [((16, 16), (37, 53)), ((5, 7), (64, 3)), ((8, 8), (1, 1)), ((30, 20), (7, 5)),
                             ((1, 1), (4, 4))]:
            x = rng.standard_normal((3, h, w)).astype(np.float32) * 10
            t = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=size, mode=mode,
                                                align_corners=False)[0].numpy()
            got = interpolate(x, size, mode)
            assert got.shape == t.shape and np.abs(got - t).max() <= 1e-5 * max(1.0, np.abs(t).max())
            r = Resizer((h, w), size, mode)
            blocks = np.concatenate([r(x, s, min(s + 2, size[0])) for s in range(0, size[0], 2)], 1)
            np.testing.assert_array_equal(blocks, got)


def test_depth_metrics():
    from edgetool.check.golden import to_jsonable
    from edgetool.check.metrics import METRICS, depth_stats
    from edgetool.runtime.tasks import get_task

    d = np.linspace(1, 5, 20, dtype=np.float32).reshape(4, 5)
    ref = [{"predicted_depth": d}]
    assert METRICS[get_task(DEPTH).metric](ref, ref) == 1.0
    assert depth_stats(ref, ref) == {"abs_rel": 0.0, "delta1": 1.0}
    assert depth_stats(to_jsonable(ref), to_jsonable(ref)) == {"abs_rel": 0.0, "delta1": 1.0}
    scaled = [{"predicted_depth": d * 1.1}]
    s = depth_stats(ref, scaled)
    assert abs(s["abs_rel"] - 0.1) < 1e-6 and s["delta1"] == 1.0
    far = d.copy()
    far[0, :] *= 2  # 5 of 20 pixels off by a factor of 2
    assert depth_stats(ref, [{"predicted_depth": far}])["delta1"] == 0.75
    assert METRICS["depth_delta1"](ref, [{"predicted_depth": far}]) == 0.75
    assert METRICS["depth_abs_rel"](ref, [{"predicted_depth": d[:2]}]) == 0.0  # shape mismatch
    assert METRICS["depth_abs_rel"]([ref], [[{"predicted_depth": d * 1.01}]]) < 1.0  # batch sample


# -- validate, --save, bad input ------------------------------------------------------------------


@pytest.mark.parametrize("against", ["golden", "torch"])
def test_validate_reports_dense_metrics(seg, maskformer, depth, tmp_path, against):
    for b, name in ((seg, "mean_iou"), (maskformer, "mean_iou"), *((depth[r], "depth_abs_rel") for r in DEPTH_REFS)):
        r = _cli("validate", b, "--against", against, "--json", tmp_path / "r.json")
        assert r.exit_code == 0, r.output
        rows = json.loads((tmp_path / "r.json").read_text())
        assert rows and all(row["passed"] and row["metric"]["name"] == name for row in rows)
        assert all(row["metric"]["value"] >= row["metric"]["floor"] for row in rows)


def test_validate_fails_on_a_wrong_mask(seg, tmp_path):
    """The golden results carry the masks (PNG): a candidate whose masks differ fails mean_iou."""
    from edgetool.runtime.bundle import Bundle
    from edgetool.check.golden import load
    from edgetool.check.metrics import mean_iou

    golden = load(Bundle.load(seg))
    assert all("png" in d["mask"] for r in golden.results for d in (r if isinstance(r[0], dict) else r[0]))
    ours = pipeline(seg)
    got = [ours(*s.args, **s.kwargs) for s in golden.samples]
    assert mean_iou(golden.results, got) == 1.0
    first = got[0][0]
    flipped = Image.fromarray(255 - np.asarray(first["mask"]), "L")
    from edgetool.runtime.tasks import get_task

    bad = mean_iou(golden.results, [[{**first, "mask": flipped}, *got[0][1:]], *got[1:]])
    assert bad < get_task(SEG).metric_floor["fp32"]  # one of the samples' masks inverted: validation fails


def _changed(src: np.ndarray, out_path) -> np.ndarray:
    pic = np.asarray(Image.open(out_path).convert("RGB"))
    assert pic.shape == src.shape
    return (pic != src).any(-1)


def test_run_save_segmentation_overlay(seg, tmp_path):
    img = np.asarray(pictures()[0])
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(img).save(src)
    r = _cli("run", seg, src, "--save", out)
    assert r.exit_code == 0, r.output
    changed = _changed(img, out)
    assert changed.mean() > 0.95  # every pixel belongs to some class and is tinted
    labels = pipeline(seg)(img)
    pic = np.asarray(Image.open(out).convert("RGB")).astype(int)
    colours = [tuple(np.median(pic[np.asarray(d["mask"]) > 0] - img[np.asarray(d["mask"]) > 0] // 2, 0))
               for d in labels]
    assert len(set(colours)) == len(labels)  # one tint per class


def test_run_save_depth_colour_map(depth, tmp_path):
    img = np.asarray(pictures()[1])
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    for name, b in depth.items():
        out = tmp_path / f"{name}.png"
        r = _cli("run", b, src, "--save", out)
        assert r.exit_code == 0, r.output
        assert _changed(img, out).mean() > 0.95
        pic = np.asarray(Image.open(out).convert("RGB")).astype(int)
        gray = np.asarray(pipeline(b)(img)["depth"]).astype(int)
        # the colour map is monotone in brightness: nearer (brighter) pixels map to brighter colours
        lum = pic.sum(-1)
        assert np.corrcoef(lum.ravel(), gray.ravel())[0, 1] > 0.95


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_bad_and_odd_images(seg, maskformer, depth, hf, backend, tmp_path):
    s = pipeline(seg, backend=backend)
    glpn, dpt = pipeline(depth["glpn-tiny"], backend=backend), pipeline(depth["dpt-tiny"], backend=backend)
    one = np.full((1, 1, 3), 200, np.uint8)
    r = s(one)
    assert len(r) == 1 and r[0]["mask"].size == (1, 1) and np.asarray(r[0]["mask"]).tolist() == [[255]]
    d = dpt(one)
    assert d["predicted_depth"].shape == (1, 1) and np.asarray(d["depth"]).tolist() == [[0]]
    with pytest.raises(UsageError, match="at least 32x32"):
        glpn(one)
    rgb = pictures()[0]
    for mode in ("L", "RGBA"):
        path = tmp_path / f"{mode}.png"
        rgb.convert(mode).save(path)
        assert mask_mismatch(s(str(path)), hf["segformer-tiny"](str(path))) == 0
        for name, pipe in (("glpn-tiny", glpn), ("dpt-tiny", dpt)):
            a, b = pipe(str(path))["predicted_depth"], hf[name](str(path))["predicted_depth"].numpy()
            assert np.abs(a - b).max() < 1e-5 * np.abs(b).max()
    hwc = np.asarray(rgb)
    assert mask_mismatch(s(hwc.transpose(2, 0, 1)), s(hwc)) == 0
    mixed = [one, np.asarray(pictures()[1]), np.zeros((200, 7, 3), np.uint8), np.asarray(pictures()[3])]
    for a, b in zip(s(mixed), [s(m) for m in mixed]):
        assert mask_mismatch(a, b) == 0
    for a, b in zip(dpt(mixed), [dpt(m) for m in mixed]):
        assert np.array_equal(a["predicted_depth"], b["predicted_depth"])
    da = pipeline(depth["depth-anything-tiny"], backend=backend)
    fits = [m for m in mixed if m.shape[1] > 7]  # each picture gets its own (aspect-kept) input size
    for a, b in zip(da(fits), [da(m) for m in fits]):
        assert np.array_equal(a["predicted_depth"], b["predicted_depth"])
    assert [r["predicted_depth"].shape for r in da(fits)] == [m.shape[:2] for m in fits]
    with pytest.raises(UsageError, match="too thin"):  # 200x7 keeps its aspect: 0 columns (transformers crashes)
        da(mixed)
    with pytest.raises(UsageError, match="subtask 'panoptic'"):
        s(one, subtask="panoptic")
    mf = pipeline(maskformer, backend=backend)
    for kw in MASKFORMER_OPTIONS:  # 1x1 and a mixed batch through mask classification
        assert all(d["mask"].size == (1, 1) for d in mf(one, **kw))
        assert [[d["label"] for d in r] for r in mf(mixed, **kw)] == [[d["label"] for d in mf(m, **kw)] for m in mixed]
    with pytest.raises(UsageError, match="subtask 'everything'"):
        mf(one, subtask="everything")
    with pytest.raises(UsageError, match="between 0 and 1"):
        s(one, threshold=2)
    with pytest.raises(UsageError, match="empty"):
        dpt(b"")
    from edgetool.pictures import save_pictures

    with pytest.raises(UsageError, match="PNG"):
        save_pictures("image-segmentation", [one], [s(one)], str(tmp_path / "x.jpg"))


# -- processors: pixels equal transformers' ---------------------------------------------------------
def _odd_inputs() -> list[Image.Image]:
    rng = np.random.default_rng(2)
    rgb = [rng.integers(0, 255, s).astype(np.uint8) for s in ((37, 53, 3), (70, 45, 3), (33, 97, 3), (64, 64, 3))]
    pics = [Image.fromarray(a) for a in rgb]
    return pics + [pics[0].convert("L"), pics[1].convert("RGBA"), Image.fromarray(rgb[2]).convert("P")]


def _processors():
    from transformers import (DPTImageProcessor, GLPNImageProcessor, MaskFormerImageProcessor, SegformerImageProcessor,
                              ZoeDepthImageProcessor)

    return [SegformerImageProcessor(size={"height": 64, "width": 64}),
            SegformerImageProcessor(size={"height": 40, "width": 24}, resample=3, image_mean=[0.3, 0.4, 0.5]),
            GLPNImageProcessor(size_divisor=32), GLPNImageProcessor(size_divisor=8, resample=3),
            DPTImageProcessor(size={"height": 32, "width": 32}),
            DPTImageProcessor(size={"height": 48, "width": 40}, keep_aspect_ratio=True, ensure_multiple_of=8),
            DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=True, ensure_multiple_of=4,
                              do_pad=True, size_divisor=16),
            DPTImageProcessor(size={"height": 30, "width": 30}, do_normalize=False, resample=2),
            MaskFormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32),
            MaskFormerImageProcessor(size={"shortest_edge": 40, "longest_edge": 200}, size_divisor=0, resample=3),
            MaskFormerImageProcessor(size={"height": 48, "width": 40}, size_divisor=16),
            ZoeDepthImageProcessor(size={"height": 48, "width": 64}, ensure_multiple_of=16),
            ZoeDepthImageProcessor(size={"height": 40, "width": 30}, keep_aspect_ratio=False, ensure_multiple_of=1,
                                   image_mean=[0.3, 0.4, 0.5], image_std=[0.2, 0.3, 0.4]),
            ZoeDepthImageProcessor(size={"height": 64, "width": 48}, do_pad=False, do_normalize=False,
                                   ensure_multiple_of=8),
            ZoeDepthImageProcessor(size={"height": 32, "width": 32}, do_resize=False, rescale_factor=1 / 127.5)]


@pytest.mark.parametrize("index", range(15))
def test_dense_processor_pixel_parity(index):
    from edgetool.runtime.preprocess.image import image_processor, load_image

    hp = _processors()[index]
    ours = image_processor(json.loads(hp.to_json_string()))
    for pic in _odd_inputs():
        a = ours([load_image(pic)])["pixel_values"]
        b = hp(pic.convert("RGB"), return_tensors="np")["pixel_values"]  # the pipelines convert to RGB first
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, (type(hp).__name__, pic.mode, pic.size)
    if "MaskFormer" in type(hp).__name__:  # a batch of mixed sizes: padded bottom/right, with a pixel mask
        pics = [p.convert("RGB") for p in _odd_inputs()]
        a, b = ours([load_image(p) for p in pics]), hp(pics, return_tensors="np")
        assert np.abs(a["pixel_values"] - b["pixel_values"]).max() <= 1e-5
        np.testing.assert_array_equal(a["pixel_mask"], b["pixel_mask"])


def test_zoedepth_processor_refuses_what_it_does_not_implement():
    from edgetool.runtime.errors import UnsupportedError
    from edgetool.runtime.preprocess.image import image_processor

    base = {"image_processor_type": "ZoeDepthImageProcessor", "size": {"height": 32, "width": 32}}
    for key, value in (("resample", 3), ("ensure_multiple_of", 0), ("size", {"shortest_edge": 32})):
        with pytest.raises(UnsupportedError, match=f"{key}={value!r}"):
            image_processor({**base, key: value})
    assert image_processor({**base, "resample": 3, "do_resize": False})  # not used without resizing


def test_zoedepth_export_refuses_an_unimplemented_setting(reference_dir, tmp_path):
    import shutil

    src, out = tmp_path / "ck", tmp_path / "out"
    shutil.copytree(reference_dir("zoedepth-tiny"), src)
    cfg = json.loads((src / "preprocessor_config.json").read_text())
    (src / "preprocessor_config.json").write_text(json.dumps({**cfg, "resample": 3}))
    r = _cli("export", "--task", DEPTH, "--model", src, "--out", out)
    assert r.exit_code == 2 and "resample=3" in r.output and not out.exists(), r.output


def test_run_subtask_option_and_json_masks(maskformer, hf, tmp_path):
    import base64
    import io

    src = tmp_path / "in.png"
    pictures()[0].save(src)
    r = _cli("run", maskformer, src, "--subtask", "semantic", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    ref = hf["maskformer-tiny"](str(src), subtask="semantic")
    assert [d["label"] for d in got] == [d["label"] for d in ref] and all(d["score"] is None for d in got)
    for d, e in zip(got, ref):  # --json carries each mask as a PNG
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(d["mask"]["png"])))),
                                      np.asarray(e["mask"]))
    r = _cli("run", maskformer, src, "--subtask", "everything")
    assert r.exit_code == 2 and "subtask 'everything'" in r.output and "instance" in r.output
