"""Run the `edgetool` command line in-process for tests (importable because pyproject puts tests/ on pythonpath)."""
from __future__ import annotations

import click
from click.testing import CliRunner


def invoke_cli(*argv, input=None):
    """`edgetool ARGV...` through the real entry point (its one-line errors and exit codes), output captured."""
    from edgetool.cli import main

    @click.command(context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def shim(args):
        main(list(args))

    return CliRunner().invoke(shim, [str(a) for a in argv], input=input)
