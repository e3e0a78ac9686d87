"""Serving fixtures: the serving environment (made by `make serve-env`), repositories and real servers.

Every server a test starts listens on loopback ports chosen free at run time and is stopped by the
fixture's finalizer. Tests skip, with the reason, only where the serving environment is missing."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def serve_env():
    from edgetool.serve.server import ServeError, serve_python

    try:
        return serve_python()
    except ServeError as e:
        pytest.skip(f"no serving environment (run `make serve-env`): {e}")


@pytest.fixture(scope="session")
def remote(serve_env):
    """remote(check, bundle, model, server, *args) -> the JSON report of tests/serve/remote_checks.py, run in
    the serving environment (which has tritonclient)."""
    def run(check, bundle, model, server, *args, timeout=300):
        proc = subprocess.run([str(serve_env.python), str(HERE / "remote_checks.py"), check, str(bundle), model,
                               server.http_url, server.grpc_url, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{check} failed:\n{proc.stderr[-3000:]}\nserver log:\n{server.log()[-3000:]}"
        return json.loads(proc.stdout)
    return run


@pytest.fixture(scope="module")
def served(bundle_dir, serve_env, tmp_path_factory):
    """served(task, **RepositoryOptions fields) -> (bundle, repository, server); servers stop at module end."""
    from edgetool.serve.repository import RepositoryOptions, write_repository
    from edgetool.serve.server import start

    servers, cache = [], {}

    def make(task, **opts):
        key = (task, tuple(sorted(opts.items())))
        if key not in cache:
            bundle = bundle_dir(task)
            repo = write_repository(bundle, tmp_path_factory.mktemp("repo"), RepositoryOptions(graphs=False, **opts))
            server = start(repo.root, [repo.pipeline_model], python=str(serve_env.python), timeout=120)
            servers.append(server)
            cache[key] = (bundle, repo, server)
        return cache[key]

    yield make
    for s in servers:
        s.stop()
