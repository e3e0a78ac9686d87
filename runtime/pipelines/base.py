"""Pipeline template: split inputs -> preprocess -> forward -> postprocess -> unwrap, shaped like
`transformers.pipeline`.

    pipe(inputs, **options)
      opts            = pipe.sanitize(**options)        # check the call options once, resolve defaults
      items, single   = pipe.split(inputs, opts)        # one input or a list of them -> a list
      for batch in pipe.batches(items, opts):           # default: one item at a time
          prepared    = pipe.preprocess(batch, opts)    # -> Prepared(items, feeds, extra)
          outputs     = pipe.forward(prepared, opts)    # default: the family head's engine call
          results    += pipe.postprocess(prepared, outputs, opts)   # one result per item
      return pipe.unwrap(results, single, opts)         # single in, single out

A task pipeline implements only its own steps; what differs between model families lives in the
family's head (runtime/heads), `self.head`. Rendering results (text, pictures, streamed tokens) is the
CLI's job, not the runtime's.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..backends import TARGET_BACKEND, Backend, BackendOptions, backend_class
from ..bundle import Bundle
from ..names import ALTERNATIVE_GRAPHS
from ..heads import Head, make_head
from ..heads.base import Prepared
from ..tasks import TaskSpec, get_task


def open_engines(bundle: Bundle, backend: str | None = None, precision: str | None = None,
                 options: BackendOptions | None = None) -> dict[str, Backend]:
    """One Backend per graph of the bundle, for the chosen engine and precision. A graph that an alternative
    stands in for on this engine (names.ALTERNATIVE_GRAPHS) is opened on its first call (LazyEngine)."""
    name = backend or TARGET_BACKEND.get(bundle.default_target, "onnxruntime")
    cls = backend_class(name)
    chosen = bundle.select(cls.formats, precision, cls.name)
    deferred = {ALTERNATIVE_GRAPHS[g][0] for g in chosen if g in ALTERNATIVE_GRAPHS} & set(chosen)
    # every file of every artifact (e.g. OpenVINO .xml and .bin) is hashed while the sessions are built —
    # not before: for a large model that halves the cold start — and checked before anything answers
    verification = bundle.verify_in_background([rel for g, art in chosen.items() if g not in deferred for rel in art.files])
    engines: dict[str, Any] = {}
    try:
        for graph, art in chosen.items():
            if graph in deferred:
                engines[graph] = LazyEngine(cls, bundle, art, options)
                continue
            engines[graph] = cls(bundle.file(art.path, verify=False), bundle.graph_spec(art), options)
            engines[graph].artifact = art
    except Exception:
        verification.wait()  # a changed file explains a failed session better than the engine's own error
        raise
    verification.wait()
    return engines


class LazyEngine:
    """A Backend made on its first use, its files checked then: the portable graph that ONNX Runtime's fused
    decoder replaces is needed only for left-padded batches, so its session (and memory) waits for one."""

    def __init__(self, cls: type[Backend], bundle: Bundle, artifact, options: BackendOptions | None):
        self._cls, self._bundle, self._options = cls, bundle, options
        self._engine: Backend | None = None
        self.artifact, self.name, self.cache_block = artifact, cls.name, cls.cache_block

    @property
    def engine(self) -> Backend:
        if self._engine is None:
            for rel in self.artifact.files:
                self._bundle.file(rel)  # sha256 against the manifest before the engine reads it
            engine = self._cls(self._bundle.file(self.artifact.path), self._bundle.graph_spec(self.artifact),
                               self._options)
            engine.artifact = self.artifact
            self._engine = engine
        return self._engine

    @property
    def opened(self) -> bool:
        return self._engine is not None

    def run(self, feeds: dict) -> dict:
        return self.engine.run(feeds)

    def __getattr__(self, attr: str):  # anything else a Backend has (input_names, graph, ...)
        return getattr(self.engine, attr)


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Pipeline:
    """Subclasses implement the template's steps for their task (see the module docstring)."""

    def __init__(self, bundle: Bundle, backend: str | None = None, precision: str | None = None,
                 options: BackendOptions | None = None, engines: Mapping[str, Any] | None = None):
        self.bundle = bundle
        self.spec: TaskSpec = get_task(bundle.task)
        self.engines = dict(engines) if engines is not None else open_engines(bundle, backend, precision, options)
        self.head: Head = make_head(self)
        self.setup()

    def setup(self) -> None:
        """Load the task's processors (tokenizer, image/audio settings) from the bundle."""

    def run_graph(self, graph: str, feeds: dict) -> dict:
        return self.engines[graph].run(feeds)

    @property
    def backend_name(self) -> str:
        return next(iter(self.engines.values())).name

    # -- the template ----------------------------------------------------------------------------
    def __call__(self, inputs: Any, **options: Any) -> Any:
        opts = self.sanitize(**options)
        items, single = self.split(inputs, opts)
        results: list = []
        for batch in self.batches(items, opts):
            prepared = self.preprocess(batch, opts)
            results += self.postprocess(prepared, self.forward(prepared, opts), opts)
        return self.unwrap(results, single, opts)

    def sanitize(self, *args: Any, **options: Any) -> dict:
        """The call options, checked, with defaults resolved (an unknown one is a TypeError, as in Python).
        Each task declares its own keyword options; this signature is the one that lets subclasses do so."""
        if args:
            raise TypeError(f"{type(self).__name__} options are keywords, got {len(args)} positional argument(s)")
        if options:
            raise TypeError(f"{type(self).__name__} got unexpected option(s) {sorted(options)}")
        return {}

    def split(self, inputs, opts: dict) -> tuple[list, bool]:
        """(items, was_single): one input becomes a list of one."""
        single = not isinstance(inputs, list)
        return ([inputs] if single else list(inputs)), single

    def batches(self, items: list, opts: dict) -> Iterator[list]:
        """Groups of items that go through the model together; by default one at a time."""
        return ([item] for item in items)

    def preprocess(self, batch: list, opts: dict) -> Prepared:
        raise NotImplementedError

    def forward(self, prepared: Prepared, opts: dict) -> Any:
        return self.head.forward(prepared.feeds)

    def postprocess(self, prepared: Prepared, outputs: Any, opts: dict) -> list:
        """One result per item of the batch."""
        raise NotImplementedError

    def unwrap(self, results: list, single: bool, opts: dict):
        return results[0] if single else results
