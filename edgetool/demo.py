"""`make demo`: export the built-in text-classification reference model to ONNX and OpenVINO,
then run one sentence through each bundle with the torch-free runtime."""
from __future__ import annotations

import sys

SENTENCE = "I love this"


def main() -> int:
    from edgetool.cli import main as cli

    for target in ("onnx", "openvino"):
        out = f"bundles/text-classification-{target}-fp32"
        print(f"\n$ edgetool export --task classify --target {target} --force", flush=True)
        _call(cli, ["export", "--task", "classify", "--target", target, "--force"])
        print(f"\n$ edgetool run {out} \"{SENTENCE}\"", flush=True)
        _call(cli, ["run", out, SENTENCE])
        print(f"\n$ edgetool validate {out}", flush=True)
        _call(cli, ["validate", out])
    return 0


def _call(cli, argv):
    try:
        cli(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            raise


if __name__ == "__main__":
    sys.exit(main())
