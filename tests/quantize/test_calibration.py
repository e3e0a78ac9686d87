"""Calibration data loading: text files, image / WAV folders, built-in sets, and clear errors for empty
folders and the wrong modality. No model needed."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from wav_writer import wav_bytes

from edgetool.quantize import calibration as cal
from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.runtime.tasks import get_task

TEXT = get_task("text-classification")
IMAGE = get_task("image-classification")
AUDIO = get_task("audio-classification")


def write_png(path, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(path)


def write_wav(path, seconds=0.2, rate=16000):
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 32767).astype(np.int16)
    path.write_bytes(wav_bytes(x, rate=rate))


def test_text_file_lines_size_and_hash(tmp_path):
    f = tmp_path / "calib.txt"
    lines = [f"sentence number {i}" for i in range(10)]
    f.write_text("\n".join(lines[:5]) + "\n\n   \n" + "\n".join(lines[5:]) + "\n", encoding="utf-8")
    calib, held = cal.load_raw(TEXT, f, size=6)
    assert calib.items == lines[:6]
    assert held.items == lines[6:]  # the rest of the user's data is held out for the accuracy report
    h = hashlib.sha256()
    for s in lines[:6]:
        h.update(hashlib.sha256(s.encode()).digest())
    assert calib.sha256 == h.hexdigest()
    info = cal.calibration_info(calib, static=True)
    assert info["size"] == 6 and info["source"] == str(f)
    assert any("only 6 sample" in w and "100" in w for w in info["warnings"])


def test_no_warning_at_or_above_the_minimum(tmp_path):
    f = tmp_path / "calib.txt"
    f.write_text("\n".join(f"line {i}" for i in range(cal.MIN_STATIC_SAMPLES)), encoding="utf-8")
    calib, _ = cal.load_raw(TEXT, f, size=None)
    assert cal.calibration_info(calib, static=True)["warnings"] == []


def test_builtin_sets_are_deterministic_and_disjoint_from_held_out():
    for spec in (TEXT, IMAGE, AUDIO):
        a, held = cal.load_raw(spec, None, size=20)
        b, _ = cal.load_raw(spec, None, size=20)
        assert len(a.items) == 20 and len(held.items) == cal.DEFAULT_HELD_OUT
        assert a.sha256 == b.sha256
        assert not set(a.digests) & set(held.digests)
        info = cal.calibration_info(a, static=True)
        assert any("built-in demo set" in w for w in info["warnings"])


def test_image_folder(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"img{i}.png", i)
    (tmp_path / ".hidden.png").write_bytes(b"not an image")  # hidden files are ignored
    (tmp_path / "notes.md").write_text("ignored")
    calib, _ = cal.load_raw(IMAGE, tmp_path, size=None)
    assert calib.names == ["img0.png", "img1.png", "img2.png"]
    assert all(x.shape == (20, 30, 3) and x.dtype == np.uint8 for x in calib.items)


def test_wav_folder(tmp_path):
    write_wav(tmp_path / "a.wav")
    calib, _ = cal.load_raw(AUDIO, tmp_path, size=None)
    item = calib.items[0]
    wave_ = item["raw"] if isinstance(item, dict) else item  # with its rate when the loader reports one
    assert wave_.dtype == np.float32 and wave_.shape == (3200,)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="is empty"):
        cal.load_raw(IMAGE, tmp_path, size=None)


@pytest.mark.parametrize("spec,make,expect", [
    (IMAGE, lambda d: write_wav(d / "a.wav"), r"holds no images .*1 WAV files.*takes image input"),
    (AUDIO, lambda d: write_png(d / "a.png"), r"holds no WAV files .*1 images.*takes audio input"),
])
def test_folder_of_the_wrong_modality(tmp_path, spec, make, expect):
    make(tmp_path)
    with pytest.raises(UsageError, match=expect):
        cal.load_raw(spec, tmp_path, size=None)


def test_text_task_given_a_folder_or_binary(tmp_path):
    write_png(tmp_path / "a.png")
    with pytest.raises(UsageError, match=r"is a folder \(it has 1 images\); this task takes text"):
        cal.load_raw(TEXT, tmp_path, size=None)
    with pytest.raises(UsageError, match="binary"):
        cal.load_raw(TEXT, tmp_path / "a.png", size=None)


def test_image_task_given_a_text_file(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("hello\n")
    with pytest.raises(UsageError, match="is a file .*expected a folder of images"):
        cal.load_raw(IMAGE, f, size=None)


def test_corrupt_image_names_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    with pytest.raises(UsageError, match="bad.png"):
        cal.load_raw(IMAGE, tmp_path, size=None)


def test_missing_path_and_bad_size(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        cal.load_raw(TEXT, tmp_path / "nope.txt", size=None)
    with pytest.raises(UsageError, match="calibration-size"):
        cal.load_raw(TEXT, None, size=0)


def test_unknown_input_kind_is_unsupported(monkeypatch):
    monkeypatch.delitem(cal.LOADERS, "audio")
    with pytest.raises(UnsupportedError, match="not supported yet"):
        cal.input_kind(AUDIO)
