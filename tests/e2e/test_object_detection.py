"""object-detection end to end on ONNX Runtime and OpenVINO.

DETR: against transformers' pipeline("object-detection") (DetrImageProcessor, PIL) on the same weights.
YOLO-style: against the PyTorch forward on the same letterboxed tensor plus a plain-Python reference
NMS written here; --nms-in-graph (ONNX NonMaxSuppression) against the NumPy NMS, batches included.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from cli_invoke import invoke_cli as _cli
from PIL import Image

from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError
from edgetool.runtime.preprocess.letterbox import bilinear_resize, letterbox

TASK = "object-detection"
BACKENDS = ["onnxruntime", "openvino"]


def images():
    """Sample pictures plus a wide and a tall one (letterbox pads on either axis)."""
    rng = np.random.default_rng(1)
    return sample_images() + [rng.integers(0, 255, (24, 90, 3)).astype(np.uint8),
                              np.kron(rng.integers(0, 255, (9, 3, 3)), np.ones((10, 10, 1))).astype(np.uint8)]


@pytest.fixture(scope="module")
def yolo(bundle_dir):
    return bundle_dir(TASK, target="openvino", reference="yolo-tiny")


@pytest.fixture(scope="module")
def yolo_nms(bundle_dir):
    return bundle_dir(TASK, target="openvino", reference="yolo-tiny", nms_in_graph=True)


@pytest.fixture(scope="module")
def detr(bundle_dir):
    return bundle_dir(TASK, target="openvino", reference="detr-tiny")


# -- YOLO-style: PyTorch forward + a reference NMS --------------------------------------------------
def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes, scores, threshold, iou_threshold, max_detections):
    """Plain Python: every (box, class) above threshold, greedy per class by score, then the best overall."""
    kept = []
    for c in range(scores.shape[1]):
        cand = sorted(((float(scores[i, c]), i) for i in range(len(boxes)) if scores[i, c] > threshold),
                      key=lambda t: (-t[0], t[1]))  # ties: lower anchor index first
        chosen = []
        for s, i in cand:
            if all(_iou(boxes[i].tolist(), boxes[j].tolist()) <= iou_threshold for _, j in chosen):
                chosen.append((s, i))
        kept += [(s, i, c) for s, i in chosen]
    return sorted(kept, key=lambda t: (-t[0], t[1], t[2]))[:max_detections]


def torch_reference(model_dir, imgs, threshold, iou_threshold, max_detections):
    from transformers import AutoModelForObjectDetection

    import edgetool.export.reference.detection  # noqa: F401  (registers the YOLO-style Auto class)

    model = AutoModelForObjectDetection.from_pretrained(str(model_dir)).eval()
    out = []
    for img in imgs:
        canvas, lb = letterbox(img, model.config.image_size)
        with torch.no_grad():
            o = model(pixel_values=torch.from_numpy(canvas[None]))
        boxes, scores = o["boxes"][0].numpy(), o["scores"][0].numpy()
        kept = reference_nms(boxes, scores, threshold, iou_threshold, max_detections)
        n_candidates = int((scores > threshold).sum())
        out.append(([(s, c, lb.unmap(boxes[i][None])[0]) for s, i, c in kept], n_candidates))
    return out


@pytest.mark.family("object-detection", "yolo")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threshold,iou,max_det", [(0.25, 0.45, 100), (0.3, 0.3, 3), (0.2, 0.6, 50)])
def test_yolo_matches_torch_and_reference_nms(yolo, reference_dir, backend, threshold, iou, max_det):
    pipe = pipeline(yolo, backend=backend)
    imgs = images()
    ref = torch_reference(reference_dir("yolo-tiny"), imgs, threshold, iou, max_det)
    got = pipe.head.raw(imgs, threshold, iou, max_det)  # one batched engine call
    results = pipe(imgs, threshold=threshold, iou_threshold=iou, max_detections=max_det)
    suppressed = 0
    for (r, n_cand), (boxes, scores, labels), res in zip(ref, got, results):
        assert len(r) == len(scores) == len(res)
        assert [c for _, c, _ in r] == labels.tolist()
        assert np.abs(np.asarray([s for s, _, _ in r]) - scores).max(initial=0) < 1e-5
        assert np.abs(np.asarray([b for _, _, b in r]).reshape(-1, 4) - boxes).max(initial=0) < 1e-3
        assert [d["label"] for d in res] == [pipe.id2label[c] for c in labels.tolist()]
        for d, b in zip(res, boxes):
            assert [d["box"][k] for k in ("xmin", "ymin", "xmax", "ymax")] == [int(v) for v in np.trunc(b.astype(np.float32))]
        suppressed += n_cand - len(r)
    assert sum(len(r) for r, _ in ref) > 0, "the reference model must detect something"
    assert suppressed > 0, "NMS must have removed boxes, or the test proves nothing about it"


@pytest.mark.parametrize("backend", BACKENDS)
def test_yolo_boxes_within_original_image(yolo, backend):
    pipe = pipeline(yolo, backend=backend)
    for img, res in zip(images(), pipe(images(), threshold=0.1)):
        h, w = img.shape[:2]
        assert res
        for d in res:
            b = d["box"]
            assert 0 <= b["xmin"] <= b["xmax"] <= w and 0 <= b["ymin"] <= b["ymax"] <= h


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_in_graph_equals_numpy_nms(yolo, yolo_nms, backend):
    numpy_nms, in_graph = pipeline(yolo, backend=backend), pipeline(yolo_nms, backend=backend)
    assert in_graph.head.in_graph and not numpy_nms.head.in_graph
    for kw in ({}, {"threshold": 0.3, "iou_threshold": 0.3}, {"threshold": 0.2, "max_detections": 2},
               {"threshold": 0.99}):
        a, b = numpy_nms(images(), **kw), in_graph(images(), **kw)  # batch of 5 through one graph call
        assert [[(d["label"], d["box"]) for d in r] for r in a] == [[(d["label"], d["box"]) for d in r] for r in b]
        assert max((abs(x["score"] - y["score"]) for ra, rb in zip(a, b) for x, y in zip(ra, rb)), default=0) < 1e-6
        assert [numpy_nms(img, **kw) for img in images()[:2]] == a[:2]  # batched == one by one
    assert any(numpy_nms(images())), "nothing detected: the comparison would be empty"


def test_letterbox_resize_matches_torch_interpolate():
    rng = np.random.default_rng(0)
    for shape, out in [((37, 53, 3), (64, 91)), ((90, 24, 3), (64, 17)), ((5, 7, 3), (64, 64)), ((1, 1, 3), (3, 2))]:
        img = rng.integers(0, 255, shape).astype(np.uint8)
        t = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=out,
                                            mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
        assert np.abs(bilinear_resize(img, *out) - t).max() < 1e-3
    canvas, lb = letterbox(np.zeros((20, 40, 3), np.uint8), 64)
    assert canvas.shape == (3, 64, 64) and (lb.left, lb.top, lb.scale) == (0, 16, 1.6)
    np.testing.assert_allclose(canvas[:, :16], 114 / 255) and np.testing.assert_allclose(canvas[:, 16:48], 0)
    np.testing.assert_allclose(lb.unmap(np.array([[16.0, 32.0, 48.0, 48.0]])), [[10, 10, 30, 20]])


# -- DETR: the transformers pipeline --------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_detr(reference_dir):
    from transformers import pipeline as hf_pipeline

    return hf_pipeline(TASK, model=str(reference_dir("detr-tiny")))


def assert_same_detections(a, b, tol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x["label"], x["box"]) == (y["label"], y["box"])
        assert abs(x["score"] - y["score"]) < tol


@pytest.mark.family("object-detection", "detr")
@pytest.mark.parametrize("backend", BACKENDS)
def test_detr_matches_transformers_pipeline(detr, hf_detr, backend):
    ours = pipeline(detr, backend=backend)
    pics = [Image.fromarray(a) for a in images()]
    all_scores = [d["score"] for r in hf_detr(pics, threshold=0.0) for d in r]
    mid = float(np.median(all_scores))  # keeps some and drops some
    for kw in ({}, {"threshold": 0.0}, {"threshold": mid}):
        a, b = ours(pics, **kw), hf_detr(pics, **kw)
        for ra, rb in zip(a, b):
            assert_same_detections(ra, rb)
    a, b = ours(pics, threshold=mid), hf_detr(pics, threshold=mid)
    assert 0 < sum(map(len, a)) < sum(map(len, ours(pics, threshold=0.0)))
    assert_same_detections(ours(pics[0], threshold=0.0), hf_detr(pics[0], threshold=0.0))


def test_detr_processor_pixel_parity():
    from transformers import DetrImageProcessor

    from edgetool.runtime.preprocess.image import image_processor

    for size in ({"shortest_edge": 48, "longest_edge": 64}, {"shortest_edge": 80, "longest_edge": 100},
                 {"shortest_edge": 800, "longest_edge": 1333}):
        hp = DetrImageProcessor(size=size)
        ours = image_processor(json.loads(hp.to_json_string()))
        imgs = images() + [np.full((1, 1, 3), 7, np.uint8)]
        for batch in ([imgs[0]], imgs):  # one image; mixed sizes padded with a pixel mask
            a, b = ours(batch), hp(batch, return_tensors="np")
            assert a["pixel_values"].shape == b["pixel_values"].shape
            assert np.abs(a["pixel_values"] - b["pixel_values"]).max() <= 1e-5
            np.testing.assert_array_equal(a["pixel_mask"], b["pixel_mask"])


# -- --save, metrics, bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["yolo-tiny", "detr-tiny"])
def test_run_save_draws_boxes(request, reference, tmp_path):
    bundle = request.getfixturevalue("yolo" if reference == "yolo-tiny" else "detr")
    img = np.kron(sample_images()[1], np.ones((2, 2, 1), np.uint8))  # 96 x 64, flat blocks
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(img).save(src)
    thr = "0.25" if reference == "yolo-tiny" else "0.0"
    r = _cli("run", str(bundle), str(src), "--save", str(out), "--threshold", thr, "--json")
    assert r.exit_code == 0, r.output
    dets = json.loads(r.stdout)
    assert dets, "no detections to draw"
    pic = np.asarray(Image.open(out).convert("RGB"))
    assert pic.shape == img.shape
    changed = (pic != img).any(-1)
    inside = np.zeros_like(changed)
    from PIL import ImageDraw

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for d in dets:  # the box's outline and its label text
        b = d["box"]
        inside[max(b["ymin"] - 2, 0):b["ymax"] + 3, max(b["xmin"] - 2, 0):b["xmax"] + 3] = True
        x0, y0, x1, y1 = measure.textbbox((b["xmin"] + 2, b["ymin"] + 1), f"{d['label']} {d['score']:.2f}")
        inside[max(y0 - 1, 0):y1 + 2, max(x0 - 1, 0):x1 + 2] = True
    assert changed.any() and not (changed & ~inside).any()  # drawn where the boxes are, nowhere else
    for d in dets:  # every box's outline is drawn
        b = d["box"]
        assert changed[b["ymin"]:b["ymax"] + 1, min(b["xmin"], img.shape[1] - 1)].any()


def test_save_errors_are_clear(yolo, tmp_path):
    from edgetool.pictures import save_pictures

    pipe = pipeline(yolo)
    one, two = sample_images()[:1], sample_images()[:2]
    with pytest.raises(UsageError, match="does not exist"):
        save_pictures(TASK, one, [pipe(one[0])], str(tmp_path / "no" / "x.png"))
    with pytest.raises(UsageError, match="PNG"):
        save_pictures(TASK, one, [pipe(one[0])], str(tmp_path / "x.jpg"))
    assert not list(tmp_path.iterdir())
    save_pictures(TASK, two, pipe(two), str(tmp_path / "many.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many-0.png", "many-1.png"]


def test_detection_metrics():
    from edgetool.check.metrics import METRICS, detection_stats
    from edgetool.runtime.tasks import get_task

    assert get_task(TASK).metric in METRICS

    def det(score, label, x0, y0, x1, y1):
        return {"score": score, "label": label, "box": {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}}

    ref = [[det(0.9, "car", 0, 0, 10, 10), det(0.8, "person", 20, 20, 40, 40)], [[det(0.7, "car", 5, 5, 15, 15)], []]]
    same = detection_stats(ref, ref)
    assert same == {"map": 1.0, "mean_iou": 1.0, "max_score_delta": 0.0, "recall": 1.0}
    shifted = [[det(0.9, "car", 1, 0, 11, 10), det(0.75, "person", 20, 20, 40, 40)], ref[1]]
    s = detection_stats(ref, shifted)
    assert 0.8 < s["mean_iou"] < 1.0 and abs(s["max_score_delta"] - 0.05) < 1e-9 and s["map"] < 1.0
    missing = [[ref[0][0]], ref[1]]
    assert detection_stats(ref, missing)["recall"] == 2 / 3 and detection_stats(ref, missing)["map"] < 1.0
    wrong_label = [[det(0.9, "dog", 0, 0, 10, 10), ref[0][1]], ref[1]]
    assert METRICS["detection_map"](ref, wrong_label) < 1.0
    extra = [[*ref[0], det(0.95, "car", 50, 50, 60, 60)], ref[1]]
    assert METRICS["detection_map"](ref, extra) < 1.0
    assert METRICS["detection_map"]([[]], [[]]) == 1.0 and METRICS["detection_map"](ref, ref[:1]) == 0.0
    # coinciding boxes (DETR queries often do) pair up by closest score, not by order
    twins = [[det(0.30, "car", 0, 0, 10, 10), det(0.31, "car", 0, 0, 10, 10)]]
    assert detection_stats(twins, [twins[0][::-1]])["max_score_delta"] == 0.0


@pytest.mark.parametrize("against", ["golden", "torch"])
def test_validate_reports_detection_map(yolo_nms, detr, tmp_path, against):
    for b in (yolo_nms, detr):  # --against torch re-traces with the bundle's export switches (NMS in graph)
        r = _cli("validate", str(b), "--against", against, "--json", str(tmp_path / "r.json"))
        assert r.exit_code == 0, r.output
        report = json.loads((tmp_path / "r.json").read_text())
        assert "detection_map" in json.dumps(report) and '"passed": false' not in json.dumps(report)


def test_letterbox_memory_follows_the_output_size():
    import tracemalloc

    huge = np.zeros((10000, 10000, 3), np.uint8)  # calloc'd: untouched pages cost nothing
    tracemalloc.start()
    canvas, lb = letterbox(huge, 64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert canvas.shape == (3, 64, 64) and lb.scale == 64 / 10000
    assert peak < 5 * 2**20, f"letterbox of a 10000x10000 image allocated {peak / 2**20:.0f} MiB"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_and_odd_images(yolo, detr, hf_detr, backend, tmp_path):
    y, d = pipeline(yolo, backend=backend), pipeline(detr, backend=backend)
    rgb = Image.fromarray(images()[1])
    one = np.full((1, 1, 3), 200, np.uint8)
    for pipe in (y, d):
        assert isinstance(pipe(one, threshold=0.0), list)  # 1x1: a result, boxes inside the single pixel
        assert all(0 <= b["box"]["xmax"] <= 1 and 0 <= b["box"]["ymax"] <= 1 for b in pipe(one, threshold=0.0))
    for mode in ("L", "RGBA"):
        path = tmp_path / f"{mode}.png"
        rgb.convert(mode).save(path)
        assert_same_detections(d(str(path), threshold=0.0), hf_detr(str(path), threshold=0.0))
        assert y(str(path), threshold=0.2) == y(np.asarray(Image.open(path).convert("RGB")), threshold=0.2)
    hwc = images()[0]
    assert y(hwc.transpose(2, 0, 1), threshold=0.2) == y(hwc, threshold=0.2) == y(Image.fromarray(hwc), threshold=0.2)
    mixed = [one, images()[0], np.zeros((200, 7, 3), np.uint8), images()[3]]
    assert y(mixed, threshold=0.2) == [y(m, threshold=0.2) for m in mixed]
    ours = d(mixed, threshold=0.0)
    # transformers' processor cannot take a 1x1 image (ambiguous channel axis): compare the others
    for ra, rb in zip(ours[1:], hf_detr([Image.fromarray(m) for m in mixed[1:]], threshold=0.0)):
        assert_same_detections(ra, rb)
    assert ours == [d(m, threshold=0.0) for m in mixed]
    for bad, match in [({"threshold": 1.5}, "between 0 and 1"), ({"threshold": "x"}, "between 0 and 1"),
                       ({"max_detections": 0}, "positive integer"), ({"iou_threshold": -1}, "between 0 and 1")]:
        with pytest.raises(UsageError, match=match):
            y(one, **bad)
    with pytest.raises(UsageError, match="YOLO-style"):
        d(one, iou_threshold=0.5)
    with pytest.raises(UsageError, match="empty"):
        y(b"")


def test_nms_in_graph_flag_only_where_it_applies(tmp_path):
    r = _cli("export", "--task", "classify", "--nms-in-graph", "--out", str(tmp_path / "b"))
    assert r.exit_code == 2 and "--nms-in-graph does not apply" in r.output
    r = _cli("export", "--task", "detect", "--reference", "detr-tiny", "--nms-in-graph", "--out", str(tmp_path / "d"))
    assert r.exit_code == 2 and "DETR" in r.output and not (tmp_path / "d").exists()


@pytest.fixture(scope="module")
def detr_user_checkpoint(reference_dir, tmp_path_factory):
    import shutil

    from transformers import DetrImageProcessor

    ckpt = tmp_path_factory.mktemp("detr-user")
    for f in ("config.json", "model.safetensors"):
        shutil.copy(reference_dir("detr-tiny") / f, ckpt / f)
    DetrImageProcessor(size={"shortest_edge": 40, "longest_edge": 56}, image_mean=[0.5, 0.4, 0.3],
                       image_std=[0.2, 0.3, 0.25]).save_pretrained(str(ckpt))
    return ckpt


@pytest.mark.parametrize("backend", BACKENDS)
def test_detr_user_checkpoint_with_its_own_processor(bundle_dir, detr_user_checkpoint, backend):
    """--model DIR: a checkpoint saved here with another processor config (sizes, mean/std) drives the runtime."""
    from transformers import pipeline as hf_pipeline

    ckpt = detr_user_checkpoint
    # target onnx: OpenVINO then reads the ONNX file itself (output names must still be the graph's)
    ours = pipeline(bundle_dir(TASK, model=ckpt), backend=backend)
    hf = hf_pipeline(TASK, model=str(ckpt))
    pics = [Image.fromarray(a) for a in images()]
    for ra, rb in zip(ours(pics, threshold=0.0), hf(pics, threshold=0.0)):
        assert_same_detections(ra, rb)


def test_yolo_user_checkpoint_other_canvas_and_labels(bundle_dir, tmp_path_factory):
    """--model DIR with a YOLO-style checkpoint saved here: 96x96 canvas, two labels, batch through NMS in graph."""
    from edgetool.export.reference.detection import YoloConfig, YoloDetector

    ckpt = tmp_path_factory.mktemp("yolo-user")
    torch.manual_seed(3)
    YoloDetector(YoloConfig(image_size=96, id2label={0: "apple", 1: "pear"}, label2id={"apple": 0, "pear": 1})
                 ).eval().save_pretrained(str(ckpt))
    for extra in ({}, {"nms_in_graph": True}):
        pipe = pipeline(bundle_dir(TASK, target="openvino", model=ckpt, **extra), backend="openvino")
        ref = torch_reference(ckpt, images(), 0.25, 0.45, 100)
        got = pipe(images())
        assert sum(map(len, got)) > 0 and {d["label"] for r in got for d in r} <= {"apple", "pear"}
        for (r, _), res in zip(ref, got):
            assert [pipe.id2label[c] for _, c, _ in r] == [d["label"] for d in res]
            assert max((abs(s - d["score"]) for (s, _, _), d in zip(r, res)), default=0) < 1e-5
