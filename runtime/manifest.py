"""The bundle manifest (`edgetool.json`) as typed, frozen dataclasses.

`Manifest.from_json(d)` checks every field it knows and names the bad one by its path
(`edgetool.json: artifacts[1].files: expected an object of path -> sha256, got list`);
`Manifest.to_json()` gives back exactly the dict it was read from. Writers build a Manifest (or
`replace()` one) and serialize it — nothing writes the JSON by hand.

Rules of the schema:
- optional sections (`default_target`, `files`, `labels`, `processing`, `generation`, `provenance`,
  `parity`, `accuracy`) are `None` when absent and are then left out of `to_json()`, so a manifest
  round-trips exactly whether or not it has them;
- unknown top-level keys are refused (with the key's name and a did-you-mean): a misspelled section
  would otherwise be silently ignored. A new section comes with a new SCHEMA_VERSION;
- family-specific processing settings (image, audio, detector, ...) are free-form and read-only
  (`Processing.extra`); the tokenizer settings every text pipeline reads are typed (`TokenizerSettings`);
- parity and accuracy reports keep their full dicts (what `edgetool validate` prints); their fixed core
  (`artifact`, `passed`, `skipped`, ...) is typed and checked.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal, Mapping, overload

from .errors import BundleError, did_you_mean

SCHEMA_VERSION = 2
MANIFEST = "edgetool.json"

__all__ = ["SCHEMA_VERSION", "MANIFEST", "TensorSpec", "GraphSpec", "Artifact", "TokenizerSettings", "Processing",
           "Generation", "Provenance", "ParityEntry", "AccuracyRow", "Accuracy", "Manifest", "replace",
           "reexport_command"]


# -- validation helpers ---------------------------------------------------------------------------
_JSON_TYPES = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number",
               type(None): "null"}


def _kind(value) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class _Reader:
    """Reads one JSON value with a path for error messages (`artifacts[1].files`)."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, expected: str, value) -> BundleError:
        return BundleError(f"{self.source}: {path}: expected {expected}, got {_kind(value)}. "
                           "The bundle is corrupt or was edited by hand — export it again.")

    def obj(self, value, path: str, expected: str = "an object") -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, expected, value)
        return value

    @overload
    def str_(self, value, path: str, optional: Literal[False] = False) -> str: ...

    @overload
    def str_(self, value, path: str, optional: bool) -> str | None: ...

    def str_(self, value, path: str, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(path, "a string" + (" or null" if optional else ""), value)
        return value

    def int_(self, value, path: str, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, "an integer" + (" or null" if optional else ""), value)
        return value

    def bool_(self, value, path: str, optional: bool = False) -> bool | None:
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            raise self.fail(path, "true or false" + (" or null" if optional else ""), value)
        return value

    def list_(self, value, path: str, expected: str = "a list") -> list:
        if not isinstance(value, list):
            raise self.fail(path, expected, value)
        return value

    def str_map(self, value, path: str, expected: str) -> dict[str, str]:
        d = self.obj(value, path, expected)
        for k, v in d.items():
            if not isinstance(v, str):
                raise self.fail(f"{path}[{k!r}]", "a string", v)
        return dict(d)

    def rel_path(self, value: str, path: str) -> str:
        """A path inside the bundle: relative, '/'-separated, no '..' and no empty parts. Checked when the
        manifest is read, so a path that leaves the bundle is refused before any file is opened."""
        parts = value.split("/")
        if not value or value.startswith("/") or "\\" in value or ":" in parts[0] or \
                any(p in ("", ".", "..") for p in parts):
            raise BundleError(f"{self.source}: {path}: {value!r} is not a path inside the bundle (paths are relative, "
                              "'/'-separated, without '..'). The manifest was edited or crafted — do not use this "
                              "bundle; export it again.")
        return value

    def path_map(self, value, path: str) -> dict[str, str]:
        """{path inside the bundle: sha256}."""
        d = self.str_map(value, path, "an object of path -> sha256")
        for k in d:
            self.rel_path(k, f"{path}[{k!r}]")
        return d

    def required(self, d: dict, key: str, path: str):
        if key not in d:
            where = f"{path}." if path else ""
            raise BundleError(f"{self.source}: {where}{key} is missing; the bundle is corrupt — export it again.")
        return d[key]

    def known(self, d: dict, allowed, path: str) -> None:
        for key in d:
            if key not in allowed:
                raise BundleError(f"{self.source}: {path}{'.' if path else ''}{key}: unknown field.{did_you_mean(key, allowed)} "
                                  f"Known: {', '.join(allowed)}. The bundle was written by another edgetool version "
                                  "or edited by hand — export it again with this one.")


def _frozen(d: Mapping | None) -> Mapping[str, Any]:
    """A read-only view of a deep copy (the manifest's free-form parts must not change under a Bundle)."""
    return MappingProxyType(copy.deepcopy(dict(d or {})))


def _thaw(m: Mapping) -> dict:
    return copy.deepcopy(dict(m))


# -- graphs and artifacts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name: float32, int64, ...
    shape: tuple  # ints for fixed dims, strings for dynamic ones

    @classmethod
    def from_json(cls, d: dict, path: str = "tensor", r: _Reader | None = None) -> "TensorSpec":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        shape = r.list_(r.required(d, "shape", path), f"{path}.shape", "a list of dims (integers or names)")
        for i, dim in enumerate(shape):
            if not isinstance(dim, (int, str)) or isinstance(dim, bool):
                raise r.fail(f"{path}.shape[{i}]", "an integer or a dim name", dim)
        return cls(r.str_(r.required(d, "name", path), f"{path}.name"),
                   r.str_(r.required(d, "dtype", path), f"{path}.dtype"), tuple(shape))

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_json(cls, name: str, d: dict, path: str | None = None, r: _Reader | None = None) -> "GraphSpec":
        r = r or _Reader(MANIFEST)
        path = path or f"graphs.{name}"
        r.obj(d, path)

        def tensors(key):
            items = r.list_(r.required(d, key, path), f"{path}.{key}", "a list of tensors")
            return tuple(TensorSpec.from_json(t, f"{path}.{key}[{i}]", r) for i, t in enumerate(items))

        return cls(name, tensors("inputs"), tensors("outputs"))

    def to_json(self) -> dict:
        return {"inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs]}


@dataclass(frozen=True)
class Artifact:
    graph: str  # which graph of the model (e.g. "model", "encoder", "decoder")
    target: str  # onnx | openvino | trt
    precision: str  # fp32 | fp16 | int8 | int4 (weight-only)
    format: str  # onnx | openvino-ir | tensorrt-plan
    path: str  # the file an engine opens, relative to the bundle
    files: dict[str, str]  # every file of the artifact -> sha256
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.target}/{self.precision}/{self.graph}"

    @classmethod
    def from_json(cls, d: dict, path: str = "artifact", r: _Reader | None = None) -> "Artifact":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        r.known(d, ("id", "graph", "target", "precision", "format", "path", "files", "options"), path)
        s = {k: r.str_(r.required(d, k, path), f"{path}.{k}") for k in ("graph", "target", "precision", "format", "path")}
        r.rel_path(s["path"], f"{path}.path")
        files = r.path_map(r.required(d, "files", path), f"{path}.files")
        options = dict(r.obj(d.get("options", {}), f"{path}.options"))
        art = cls(s["graph"], s["target"], s["precision"], s["format"], s["path"], files, options)
        if "id" in d and d["id"] != art.id:  # the id is derived; a different one means a hand edit
            raise BundleError(f"{r.source}: {path}.id: is {d['id']!r} but its target/precision/graph make "
                              f"{art.id!r}; the bundle was edited by hand — export it again.")
        return art

    def to_json(self) -> dict:
        return {"id": self.id, "graph": self.graph, "target": self.target, "precision": self.precision,
                "format": self.format, "path": self.path, "files": dict(self.files), "options": _thaw(self.options)}


# -- processing -------------------------------------------------------------------------------------
_SPECIAL_TOKENS = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token")


@dataclass(frozen=True)
class TokenizerSettings:
    """What tokenizer_config.json adds to tokenizer.json (runtime/preprocess/text.py reads these).

    `None` = not recorded (left out of the JSON). `get()` reads like the JSON dict, so code written
    against `processing["tokenizer"]` keeps working."""

    model_max_length: int | None = None
    padding_side: str | None = None
    model_input_names: tuple[str, ...] | None = None
    clean_up_tokenization_spaces: bool | None = None
    pad_token: str | None = None
    unk_token: str | None = None
    cls_token: str | None = None
    sep_token: str | None = None
    mask_token: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    # a tokenizer converted from a slow SentencePiece one (export/slow_tokenizers.py): steps after
    # tokenizers' decode that its own decode takes, {"strip": bool, "upper": bool}
    sentencepiece_decode: Mapping[str, bool] | None = None

    @classmethod
    def from_json(cls, d: dict, path: str = "processing.tokenizer", r: _Reader | None = None) -> "TokenizerSettings":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        r.known(d, [f.name for f in fields(cls)], path)
        names = d.get("model_input_names")
        if names is not None:
            r.list_(names, f"{path}.model_input_names", "a list of input names")
            for i, n in enumerate(names):
                r.str_(n, f"{path}.model_input_names[{i}]")
        spm = d.get("sentencepiece_decode")
        if spm is not None:
            r.obj(spm, f"{path}.sentencepiece_decode")
            r.known(spm, ["strip", "upper"], f"{path}.sentencepiece_decode")
            spm = _frozen({k: r.bool_(v, f"{path}.sentencepiece_decode.{k}") for k, v in spm.items()})
        return cls(model_max_length=r.int_(d.get("model_max_length"), f"{path}.model_max_length", optional=True),
                   padding_side=r.str_(d.get("padding_side"), f"{path}.padding_side", optional=True),
                   model_input_names=None if names is None else tuple(names),
                   clean_up_tokenization_spaces=r.bool_(d.get("clean_up_tokenization_spaces"),
                                                        f"{path}.clean_up_tokenization_spaces", optional=True),
                   sentencepiece_decode=spm,
                   **{t: r.str_(d.get(t), f"{path}.{t}", optional=True) for t in _SPECIAL_TOKENS})

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = (list(value) if isinstance(value, tuple) else _thaw(value) if isinstance(value, Mapping)
                               else value)
        return out

    def get(self, key: str, default=None):
        return self.to_json().get(key, default)

    def __getitem__(self, key: str):
        return self.to_json()[key]


@dataclass(frozen=True)
class Processing:
    """`tokenizer` is typed; every other key (image, audio, sentence, detector, prefix, ...) belongs to
    one family's processors and stays a read-only mapping in `extra`, in its JSON shape."""

    tokenizer: TokenizerSettings | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_json(cls, d: dict, path: str = "processing", r: _Reader | None = None) -> "Processing":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        tok = d.get("tokenizer")
        return cls(None if tok is None else TokenizerSettings.from_json(tok, f"{path}.tokenizer", r),
                   _frozen({k: v for k, v in d.items() if k != "tokenizer"}))

    def to_json(self) -> dict:
        out = {"tokenizer": self.tokenizer.to_json()} if self.tokenizer is not None else {}
        out.update(_thaw(self.extra))
        return out


# -- generation and provenance ----------------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    kind: str  # decoder-only | encoder-decoder
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # generation_config.json diff
    # Decoder-only: the most positions the model takes (prompt + new tokens); None: not limited/unknown.
    context: int | None = None
    # Decoder-only with local attention (Mistral, Gemma 2): the window. Its mask counts cache slots, so
    # the cache must stay contiguous (no block-grown buffers with unused slots between).
    sliding_window: int | None = None

    @classmethod
    def from_json(cls, d: dict, path: str = "generation", r: _Reader | None = None) -> "Generation":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        r.known(d, ("kind", "config", "context", "sliding_window"), path)
        return cls(r.str_(r.required(d, "kind", path), f"{path}.kind"),
                   _frozen(r.obj(d.get("config", {}), f"{path}.config")),
                   r.int_(d.get("context"), f"{path}.context", optional=True),
                   r.int_(d.get("sliding_window"), f"{path}.sliding_window", optional=True))

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind, "config": _thaw(self.config)}
        if self.context is not None:
            out["context"] = self.context
        if self.sliding_window is not None:
            out["sliding_window"] = self.sliding_window
        return out


@dataclass(frozen=True)
class Provenance:
    """Where the artifacts came from. `None` = not recorded (left out), except `architecture` and
    `model_type`, which are written even when unknown (null)."""

    created: str | None = None
    tool: Mapping[str, Any] | None = None  # {"edgetool": version}
    versions: Mapping[str, Any] | None = None  # torch, transformers, onnx, ... (null when not installed)
    exporter: str | None = None  # dynamo | torchscript
    opset: int | None = None
    source: str | None = None  # "reference:NAME" or the checkpoint directory
    source_sha256: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    export_options: Mapping[str, Any] | None = None  # task switches a re-trace needs
    calibration: Mapping[str, Mapping[str, Any]] | None = None  # label -> calibration set record

    _ALWAYS = ("architecture", "model_type")

    @classmethod
    def from_json(cls, d: dict, path: str = "provenance", r: _Reader | None = None) -> "Provenance":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        r.known(d, [f.name for f in fields(cls)], path)

        def mapping(key):
            v = d.get(key)
            return None if v is None else _frozen(r.obj(v, f"{path}.{key}"))

        calibration = mapping("calibration")
        for label, info in (calibration or {}).items():
            r.obj(info, f"{path}.calibration[{label!r}]")
        return cls(created=r.str_(d.get("created"), f"{path}.created", optional=True),
                   tool=mapping("tool"), versions=mapping("versions"),
                   exporter=r.str_(d.get("exporter"), f"{path}.exporter", optional=True),
                   opset=r.int_(d.get("opset"), f"{path}.opset", optional=True),
                   source=r.str_(d.get("source"), f"{path}.source", optional=True),
                   source_sha256=r.str_(d.get("source_sha256"), f"{path}.source_sha256", optional=True),
                   architecture=r.str_(d.get("architecture"), f"{path}.architecture", optional=True),
                   model_type=r.str_(d.get("model_type"), f"{path}.model_type", optional=True),
                   export_options=mapping("export_options"), calibration=calibration)

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None or f.name in self._ALWAYS:
                out[f.name] = _thaw(value) if isinstance(value, Mapping) else value
        return out

    def with_calibration(self, label: str, info: Mapping[str, Any]) -> "Provenance":
        return replace(self, calibration=_frozen({**_thaw(self.calibration or {}), label: dict(info)}))


# -- parity and accuracy reports --------------------------------------------------------------------
@dataclass(frozen=True)
class ParityEntry:
    """One (backend, precision) against a reference. The whole report (per-output statistics, metric,
    thresholds) is kept read-only in `report`; its fixed core is typed here."""

    artifact: str  # BACKEND/PRECISION
    passed: bool | None  # None: skipped
    skipped: str | None = None  # why it could not run here
    report: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_json(cls, d: dict, path: str, r: _Reader | None = None) -> "ParityEntry":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        entry = cls(r.str_(r.required(d, "artifact", path), f"{path}.artifact"),
                    r.bool_(r.required(d, "passed", path), f"{path}.passed", optional=True),
                    r.str_(d.get("skipped"), f"{path}.skipped", optional=True), _frozen(d))
        if entry.skipped is None:
            if entry.passed is None:
                raise r.fail(f"{path}.passed", "true or false (only a skipped report has null)", None)
            r.list_(r.required(d, "outputs", path), f"{path}.outputs", "a list of per-output results")
            r.obj(r.required(d, "metric", path), f"{path}.metric")
        return entry

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> "ParityEntry":
        return cls.from_json(dict(report), f"parity[{report.get('artifact')!r}]")

    def to_json(self) -> dict:
        return _thaw(self.report)


@dataclass(frozen=True)
class AccuracyRow:
    artifact: str
    skipped: str | None = None
    report: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_json(cls, d: dict, path: str, r: _Reader | None = None) -> "AccuracyRow":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        return cls(r.str_(r.required(d, "artifact", path), f"{path}.artifact"),
                   r.str_(d.get("skipped"), f"{path}.skipped", optional=True), _frozen(d))

    def to_json(self) -> dict:
        return _thaw(self.report)


@dataclass(frozen=True)
class Accuracy:
    """Each quantized artifact against the fp32 reference (quantize/accuracy_report.py)."""

    reference: str  # BACKEND/PRECISION of the reference, e.g. onnxruntime/fp32
    rows: Mapping[str, AccuracyRow]
    samples: int | None = None
    golden: int | None = None
    held_out: int | None = None
    held_out_source: str | None = None
    metric: str | None = None

    @classmethod
    def from_json(cls, d: dict, path: str = "accuracy", r: _Reader | None = None) -> "Accuracy":
        r = r or _Reader(MANIFEST)
        r.obj(d, path)
        r.known(d, [f.name for f in fields(cls)], path)
        rows = r.obj(r.required(d, "rows", path), f"{path}.rows")
        return cls(r.str_(r.required(d, "reference", path), f"{path}.reference"),
                   MappingProxyType({k: AccuracyRow.from_json(v, f"{path}.rows[{k!r}]", r) for k, v in rows.items()}),
                   **{k: r.int_(d.get(k), f"{path}.{k}", optional=True) for k in ("samples", "golden", "held_out")},
                   held_out_source=r.str_(d.get("held_out_source"), f"{path}.held_out_source", optional=True),
                   metric=r.str_(d.get("metric"), f"{path}.metric", optional=True))

    def to_json(self) -> dict:
        out: dict = {"reference": self.reference, "rows": {k: v.to_json() for k, v in self.rows.items()}}
        for k in ("samples", "golden", "held_out", "held_out_source", "metric"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


# -- the manifest -----------------------------------------------------------------------------------
def reexport_command(task: str | None, source: str | None, out: str = "DIR") -> str:
    """The `edgetool export` command that rebuilds a bundle from its recorded source."""
    parts = ["edgetool export", f"--task {task or 'TASK'}"]
    if source and source.startswith("reference:"):
        parts.append(f"--reference {source.split(':', 1)[1]}")
    elif source:
        parts.append(f"--model {source}")
    parts.append(f"--out {out} --force")
    return " ".join(parts)


_TOP_LEVEL = ("schema_version", "task", "family", "default_target", "graphs", "artifacts", "files", "labels",
              "processing", "generation", "provenance", "parity", "accuracy")


@dataclass(frozen=True)
class Manifest:
    task: str
    family: str
    graphs: Mapping[str, GraphSpec]
    artifacts: tuple[Artifact, ...]
    schema_version: int = SCHEMA_VERSION
    default_target: str | None = None
    files: Mapping[str, str] | None = None  # non-artifact files (tokenizer, golden I/O) -> sha256
    labels: Mapping[str, str] | None = None  # class index (as a string) -> label
    processing: Processing | None = None
    generation: Generation | None = None
    provenance: Provenance | None = None
    parity: Mapping[str, ParityEntry] | None = None  # BACKEND/PRECISION -> report
    accuracy: Accuracy | None = None

    @classmethod
    def from_json(cls, d: Any, source: str = MANIFEST) -> "Manifest":
        r = _Reader(source)
        if not isinstance(d, dict):
            raise BundleError(f"{source}: expected a JSON object at the top level, got {_kind(d)}; the bundle is "
                              "corrupt — export it again.")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            prov = d["provenance"] if isinstance(d.get("provenance"), dict) else {}
            task = d.get("task") if isinstance(d.get("task"), str) else None
            src = prov.get("source") if isinstance(prov.get("source"), str) else None
            raise BundleError(
                f"{source} has schema_version {version!r}; this edgetool reads version {SCHEMA_VERSION}"
                f"{' (version 2 names the model family)' if version == 1 else ''}. Re-export the bundle with this "
                f"edgetool: {reexport_command(task, src)}")
        for key in ("task", "graphs", "artifacts"):  # the historical message for these
            if key not in d:
                raise BundleError(f"{source} lacks the '{key}' field; the bundle is corrupt — export it again.")
        r.known(d, _TOP_LEVEL, "")
        graphs = r.obj(d["graphs"], "graphs", "an object of graph name -> inputs/outputs")
        arts = r.list_(d["artifacts"], "artifacts", "a list of artifacts")
        files = d.get("files")
        labels = d.get("labels")
        parity = d.get("parity")
        if parity is not None:
            r.obj(parity, "parity", "an object of BACKEND/PRECISION -> report")
        opt = lambda key, parse: None if d.get(key) is None else parse(d[key], key, r)  # noqa: E731
        return cls(
            task=r.str_(d["task"], "task"),
            family=r.str_(r.required(d, "family", ""), "family"),
            graphs=MappingProxyType({n: GraphSpec.from_json(n, g, f"graphs.{n}", r) for n, g in graphs.items()}),
            artifacts=tuple(Artifact.from_json(a, f"artifacts[{i}]", r) for i, a in enumerate(arts)),
            schema_version=version,
            default_target=r.str_(d.get("default_target"), "default_target", optional=True),
            files=None if files is None else MappingProxyType(r.path_map(files, "files")),
            labels=None if labels is None else MappingProxyType(r.str_map(labels, "labels", "an object of index -> label")),
            processing=opt("processing", Processing.from_json),
            generation=opt("generation", Generation.from_json),
            provenance=opt("provenance", Provenance.from_json),
            parity=None if parity is None else MappingProxyType(
                {k: ParityEntry.from_json(v, f"parity[{k!r}]", r) for k, v in parity.items()}),
            accuracy=opt("accuracy", Accuracy.from_json),
        )

    def to_json(self) -> dict:
        out: dict = {"schema_version": self.schema_version, "task": self.task, "family": self.family}
        if self.default_target is not None:
            out["default_target"] = self.default_target
        out["graphs"] = {n: g.to_json() for n, g in self.graphs.items()}
        out["artifacts"] = [a.to_json() for a in self.artifacts]
        for key in ("files", "labels"):
            if getattr(self, key) is not None:
                out[key] = dict(getattr(self, key))
        for key in ("processing", "generation", "provenance", "accuracy"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).to_json()
        if self.parity is not None:
            out["parity"] = {k: v.to_json() for k, v in self.parity.items()}
        return {k: out[k] for k in _TOP_LEVEL if k in out}

    # -- derived views ------------------------------------------------------------------------------
    def file_hashes(self) -> dict[str, str]:
        """Every file the bundle lists (its own files and every artifact's) -> sha256."""
        hashes = dict(self.files or {})
        for a in self.artifacts:
            hashes.update(a.files)
        return hashes

    # -- edits (each returns a new Manifest) --------------------------------------------------------
    def merged(self, sections: Mapping[str, Any]) -> "Manifest":
        """This manifest with top-level sections replaced by JSON values (e.g. an export recipe's
        processing/labels/generation), each checked like a loaded manifest's."""
        return Manifest.from_json({**self.to_json(), **sections}, "manifest being written")

    def with_artifact(self, art: Artifact) -> "Manifest":
        """Add `art`, replacing an artifact with the same id."""
        return replace(self, artifacts=tuple(a for a in self.artifacts if a.id != art.id) + (art,))

    def with_file(self, rel: str, sha256: str) -> "Manifest":
        return replace(self, files=MappingProxyType({**(self.files or {}), rel: sha256}))

    def with_parity(self, label: str, report: Mapping[str, Any]) -> "Manifest":
        return replace(self, parity=MappingProxyType({**(self.parity or {}), label: ParityEntry.of(report)}))
