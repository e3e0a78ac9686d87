"""CER / WER / edit distance (edgetool/check/metrics.py) on hand-computable cases, and the ASR validate metric."""
from __future__ import annotations

import random

import pytest

from edgetool.check.metrics import METRICS, asr_details, edit_distance, error_rate
from edgetool.runtime.tasks import get_task


@pytest.mark.parametrize("a,b,d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("", "", 0),
                                   ("flaw", "lawn", 2), ("abc", "abc", 0), ("abc", "cba", 2),
                                   (["the", "cat"], ["the", "hat", "sat"], 2)])
def test_edit_distance_hand_cases(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_edit_distance_equals_textbook_dp():
    def dp(a, b):
        row = list(range(len(b) + 1))
        for i in range(1, len(a) + 1):
            prev, row[0] = row[:], i
            for j in range(1, len(b) + 1):
                row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        return row[-1]

    r = random.Random(0)
    for _ in range(500):
        a = "".join(r.choice("abc ") for _ in range(r.randint(0, 12)))
        b = "".join(r.choice("abcd ") for _ in range(r.randint(0, 12)))
        assert edit_distance(a, b) == dp(a, b)


def test_cer_wer_hand_cases():
    # "the cat sat" -> "the hat sat": 1 char of 11, 1 word of 3
    assert error_rate(["the cat sat"], ["the hat sat"], "char") == pytest.approx(1 / 11)
    assert error_rate(["the cat sat"], ["the hat sat"], "word") == pytest.approx(1 / 3)
    # corpus rate: (1 + 2 word edits) / (3 + 2 reference words)
    assert error_rate(["the cat sat", "a dog"], ["the hat sat", "dog a b"], "word") == pytest.approx(3 / 5)
    assert error_rate([""], [""], "word") == 0.0 and error_rate([""], ["x"], "char") == 1.0
    d = asr_details([{"text": "ab cd"}, {"text": "x"}], [{"text": "ab cd"}, {"text": "y"}])
    assert d == {"exact_match": 0.5, "cer": pytest.approx(1 / 6), "wer": pytest.approx(1 / 3)}


def test_asr_task_uses_transcript_similarity():
    spec = get_task("asr")
    m = METRICS[spec.metric]
    assert spec.metric == "transcript_similarity"
    assert m([{"text": "abc"}], [{"text": "abc"}]) == 1.0
    assert m([{"text": "abcd"}], [{"text": "abxd"}]) == pytest.approx(0.75)
    assert m([{"text": "ab"}], [{"text": "xyzw"}]) == 0.0  # floored


@pytest.mark.parametrize("reference", ["wav2vec2-tiny-ctc", "whisper-tiny-random"])
def test_validate_reports_cer_wer_for_asr(bundle_dir, tmp_path, reference):
    import json

    from click.testing import CliRunner

    from edgetool.cli import cli

    bundle = bundle_dir("automatic-speech-recognition", reference=reference, target="openvino")
    r = CliRunner().invoke(cli, ["validate", str(bundle), "--against", "torch", "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    for report in json.loads((tmp_path / "r.json").read_text()):
        assert report["metric"] == {"name": "transcript_similarity", "value": 1.0, "floor": 1.0, "passed": True,
                                    "exact_match": 1.0, "cer": 0.0, "wer": 0.0}
