"""Start and stop a real Triton Inference Server on a model repository.

The server is the `tritonserver` binary that the `nvidia-pytriton` wheel ships, with its Python
backend. The backend's stub embeds the system's libpython3.X, so the Python environment the stub uses
must come from an interpreter of that exact version (a venv made with /usr/bin/python3.11 on Debian);
`serve_python()` finds such an environment and says what to do when there is none. The stub finds the
environment's packages because the environment's bin/ comes first on PATH (as PyTriton does).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from edgetool.runtime.errors import EdgetoolError

ENV_VAR = "EDGETOOL_SERVE_PYTHON"  # the serving environment's python, when it is not the current one
DEFAULT_ENV = ".venv-serve"  # `make serve-env` builds it from the system python3.11

_PROBE = r"""
import ctypes, json, sys, sysconfig
out = {"version": sys.version.split()[0], "prefix": sys.prefix, "minor": f"{sys.version_info[0]}.{sys.version_info[1]}"}
try:
    import pytriton, pathlib
    out["dist"] = str(pathlib.Path(pytriton.__file__).parent / "tritonserver")
    out["libs"] = str(pathlib.Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs")
except ImportError as e:
    out["error"] = f"nvidia-pytriton is not installed ({e})"
try:
    lib = ctypes.CDLL(f"libpython{out['minor']}.so.1.0")
    lib.Py_GetVersion.restype = ctypes.c_char_p
    out["libpython"] = lib.Py_GetVersion().decode().split()[0]
except OSError as e:
    out["libpython"] = None
    out["liberror"] = str(e)
print(json.dumps(out))
"""


class ServeError(EdgetoolError):
    """The server cannot be started or did not become ready."""


@dataclass
class ServeEnv:
    python: Path
    version: str
    dist: Path  # pytriton/tritonserver
    libs: Path  # nvidia_pytriton.libs
    minor: str


def _candidates(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    here = [Path(sys.executable)]
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        here.append(root / DEFAULT_ENV / "bin" / "python")
    return here


def serve_python(explicit: str | None = None) -> ServeEnv:
    """The Python environment whose Triton and packages the server uses; a clear error when none fits."""
    import json

    problems = []
    for py in _candidates(explicit):
        if not py.exists():
            problems.append(f"{py}: does not exist")
            continue
        try:
            probe = json.loads(subprocess.run([str(py), "-c", _PROBE], capture_output=True, text=True, timeout=60,
                                              check=True).stdout)
        except (subprocess.SubprocessError, ValueError, OSError) as e:
            problems.append(f"{py}: could not be probed ({e})")
            continue
        if probe.get("error"):
            problems.append(f"{py}: {probe['error']}")
        elif probe.get("libpython") != probe["version"]:
            problems.append(f"{py}: Python {probe['version']}, but the Python backend's stub would load libpython "
                            f"{probe.get('libpython') or 'that is missing (' + probe.get('liberror', '') + ')'}; "
                            "the versions must match exactly")
        else:
            return ServeEnv(py, probe["version"], Path(probe["dist"]), Path(probe["libs"]), probe["minor"])
    raise ServeError("No Python environment can run Triton's Python backend here:\n  " + "\n  ".join(problems) +
                     f"\nMake one from the system interpreter whose libpython the stub loads, e.g.\n"
                     f"  /usr/bin/python3.11 -m venv {DEFAULT_ENV} && {DEFAULT_ENV}/bin/pip install 'edgetool[serve]'\n"
                     f"(in a checkout: make serve-env), then pass --python {DEFAULT_ENV}/bin/python or set {ENV_VAR}.")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend_dir(env: ServeEnv, into: Path) -> Path:
    """backends/python with the stub for the environment's Python version (the wheel keeps one per version)."""
    dst = into / "backends" / "python"
    dst.mkdir(parents=True)
    src = env.dist / "backends" / "python"
    for f in src.iterdir():
        if f.is_file():
            os.symlink(f, dst / f.name)
    stub = env.dist / "python_backend_stubs" / env.minor / "triton_python_backend_stub"
    if not stub.exists():
        raise ServeError(f"nvidia-pytriton has no Python-backend stub for Python {env.minor} ({stub}).")
    os.symlink(stub, dst / "triton_python_backend_stub")
    return into / "backends"


@dataclass
class Server:
    process: subprocess.Popen
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    repo: Path
    models: list[str]
    log_path: Path
    workdir: Path
    startup_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def endpoints(self) -> str:
        lines = [f"HTTP     http://{self.http_url}  (KServe v2: POST /v2/models/<model>/infer)",
                 f"gRPC     {self.grpc_url}", f"metrics  {self.metrics_url}"]
        lines += [f"model    {m}" for m in self.models]
        return "\n".join(lines)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT (Triton unloads its models and exits), then SIGKILL to the server's own process group."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGINT)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)  # the group we created at start: server + stubs
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except Exception:  # noqa: BLE001 — not up yet
        return 0


def start(repo: Path, models: list[str] | None = None, http_port: int | None = None, grpc_port: int | None = None,
          metrics_port: int | None = None, python: str | None = None, timeout: float = 180.0, host: str = "127.0.0.1",
          threads: int | None = None, log_path: Path | None = None, verbose: bool = False) -> Server:
    """Start tritonserver on the repository (explicit model control: only `models` load, every one must)."""
    env_info = serve_python(python)
    repo = Path(repo).resolve()
    models = models or sorted(p.name for p in repo.iterdir() if (p / "config.pbtxt").is_file())
    work = Path(tempfile.mkdtemp(prefix="edgetool-triton-"))
    backends = _backend_dir(env_info, work)
    ports = [http_port or free_port(), grpc_port or free_port(), metrics_port or free_port()]
    log_path = Path(log_path) if log_path else work / "tritonserver.log"
    cmd = [str(env_info.dist / "bin" / "tritonserver"), f"--model-repository={repo}",
           f"--backend-directory={backends}", f"--cache-directory={env_info.dist / 'caches'}",
           f"--http-address={host}", f"--http-port={ports[0]}", f"--grpc-address={host}", f"--grpc-port={ports[1]}",
           f"--metrics-address={host}", f"--metrics-port={ports[2]}", "--allow-metrics=true", "--allow-gpu-metrics=false",
           "--model-control-mode=explicit", "--strict-readiness=true", "--exit-on-error=true",
           "--backend-config=python,shm-default-byte-size=4194304", "--backend-config=python,shm-growth-byte-size=4194304",
           f"--log-verbose={1 if verbose else 0}", "--log-info=true"]
    cmd += [f"--load-model={m}" for m in models]
    env = dict(os.environ)
    env["PATH"] = f"{env_info.python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (env.get("LD_LIBRARY_PATH"), str(env_info.libs)) if p)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)  # its own group: Ctrl-C reaches us, we stop it in order
    log.close()
    server = Server(proc, host, *ports, repo=repo, models=models, log_path=log_path, workdir=work)
    deadline = time.monotonic() + timeout
    ready = f"http://{host}:{ports[0]}/v2/health/ready"
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = server.log()
                server.stop()
                raise ServeError(f"tritonserver exited with code {proc.returncode} before it was ready:\n{_tail(text)}")
            if _get(ready) == 200:
                server.startup_s = time.perf_counter() - t0
                return server
            time.sleep(0.2)
    except KeyboardInterrupt:  # its own session never sees our Ctrl-C: stop it here or it outlives us
        server.stop()
        raise
    text = server.log()
    server.stop()
    raise ServeError(f"tritonserver was not ready after {timeout:.0f} s:\n{_tail(text)}")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])
