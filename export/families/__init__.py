"""Export families: per (task, family), everything the export side knows about a model family.

A family is keyed `(task, family)`; its runtime half is a head (runtime/pipelines). An `Adapter` says
which `config.model_type`s it accepts, which transformers Auto class loads them, its built-in reference
checkpoints, the ONNX graphs to trace, the manifest parts (processing, labels, generation), the golden
samples, the extra files, and model quirks as patch context managers applied whenever the model runs for
export (tracing and golden recording).

Adapters live in the task-group modules beside this file and are registered here by name only
("module:attr"), so listing families imports nothing heavy; a task's adapters are imported when one of
them is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ContextManager, Mapping

from edgetool.check.golden import Sample
from edgetool.runtime.errors import UnsupportedError, UsageError, did_you_mean
from edgetool.runtime.registry import Registry, resolve
from edgetool.runtime.tasks import get_task


class _AnyModelType:
    """The model-type set of a generic family (encoder, decoder, seq2seq): every model type the task's
    Auto class loads. Parity at export decides whether a particular one works."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _AnyModelType()


@dataclass(frozen=True)
class ReferenceModel:
    """A built-in checkpoint: `build(out_dir, seed)` writes config.json + weights (+ tokenizer/processor)."""

    name: str
    build: str | Callable  # "package.module:function", imported when the checkpoint is built


@dataclass(frozen=True)
class Adapter:
    task: str
    family: str
    model_types: tuple[str, ...] | _AnyModelType
    auto_class: str  # a transformers Auto class name, e.g. "AutoModelForObjectDetection"
    references: tuple[ReferenceModel, ...]  # the first is the family's default
    graphs: Callable  # (source, options) -> list[GraphExport]
    processing: Callable  # (source) -> manifest "processing"
    samples: Callable  # (source) -> list[Sample]: golden inputs recorded at export
    files: Callable  # (source, staging_dir) -> list[str]: extra files written (tokenizer.json, ...)
    labels: Callable | None = None  # (source) -> manifest "labels"; None: the manifest has none
    generation: Callable | None = None  # (source) -> manifest "generation"; None: not generative
    # "eager" traces everywhere with TorchScript; None lets transformers pick (sdpa), which the dynamo
    # exporter needs for BART-style eager attention with dynamic shapes.
    attn_implementation: str | None = "eager"
    # Head classes loaded by name when the checkpoint's config.architectures names one of them (as the
    # transformers pipeline does), e.g. DeiTForImageClassificationWithTeacher; otherwise auto_class.
    architectures: tuple[str, ...] = ()
    attn_by_model_type: Mapping[str, str] = field(default_factory=dict)  # per-model-type override of the above
    # model type -> why this family cannot export it (a clear UnsupportedError instead of a failed trace)
    unexportable: Mapping[str, str] = field(default_factory=dict)
    # The exporter of this family's graphs that do not insist on one (GraphExport.dynamo None), unless
    # --dynamo/--no-dynamo says otherwise: True = dynamo (torch's default), False = TorchScript, kept only
    # where dynamo's graph is slower or fails parity (docs/decisions.md says why, per family).
    dynamo: bool = True
    # Model quirks: each is model -> context manager, entered around every run of a traced graph.
    patches: tuple[Callable[[object], ContextManager], ...] = ()
    # Why transformers.pipeline is not this family's end-to-end reference (export/e2e_reference.py), or None.
    no_pipeline_reference: str | None = None

    def attention_for(self, model_type: str | None) -> str | None:
        return self.attn_by_model_type.get(model_type or "", self.attn_implementation)

    @property
    def generic(self) -> bool:
        return self.model_types is ANY

    def accepts(self, model_type: str) -> bool:
        return self.generic or model_type in self.model_types  # type: ignore[operator]

    def describe(self) -> str:
        kinds = "any model type its Auto class loads" if self.generic else ", ".join(self.model_types)  # type: ignore[arg-type]
        return f"{self.family} ({kinds})"

    def manifest(self, source) -> dict:
        out: dict = {"family": self.family, "processing": self.processing(source)}
        if self.labels is not None:
            out["labels"] = self.labels(source)
        if self.generation is not None:
            out["generation"] = self.generation(source)
        return out

    def build_graphs(self, source, opts) -> list:
        """The graphs to trace, each carrying this family's patches (tracing and torch runs apply them)."""
        graphs = self.graphs(source, opts)
        if self.patches:
            model = source.model
            for g in graphs:
                g.patches = tuple(g.patches) + tuple((lambda p=p: p(model)) for p in self.patches)
        return graphs


def _key(key) -> tuple[str, str]:
    task, family = key
    return get_task(task).name, family


FAMILIES: Registry[Adapter] = Registry("family", normalize=_key)


def _add(task: str, family: str, ref: str) -> None:
    FAMILIES.add((task, family), f"{__name__}.{ref}")


# -- the families (COMMON names; model types are declared on each adapter) ---------------------------
for _task in ("token-classification", "question-answering", "fill-mask", "feature-extraction",
              "zero-shot-classification", "multiple-choice"):
    _add(_task, "encoder", f"text_tasks:{_task.replace('-', '_').upper()}")
_add("text-classification", "encoder", "text:TEXT_CLASSIFICATION")
_add("text-generation", "decoder", "generation:DECODER")
_add("summarization", "seq2seq", "generation:SUMMARIZATION")
_add("translation", "seq2seq", "generation:TRANSLATION")
_add("text2text-generation", "seq2seq", "generation:TEXT2TEXT_GENERATION")
_add("image-to-text", "vision-encoder-decoder", "vision:VISION_ENCODER_DECODER")
# image-classification: one adapter per family (vision.py builds them from its CLASSIFIERS table).
IMAGE_CLASSIFIERS = ("vit", "deit", "beit", "swin", "convnext", "resnet", "regnet", "mobilenet", "efficientnet",
                     "mobilevit", "dinov2", "levit", "poolformer")
for _family in IMAGE_CLASSIFIERS:
    _add("image-classification", _family, f"vision:{_family.upper()}")
_add("object-detection", "yolo", "detection:YOLO")  # first: the task's default reference is yolo-tiny
_add("object-detection", "detr", "detection:DETR")
_add("object-detection", "table-transformer", "detection:TABLE_TRANSFORMER")
_add("object-detection", "conditional-detr", "detection:CONDITIONAL_DETR")
_add("object-detection", "yolos", "detection:YOLOS")
_add("object-detection", "rt-detr", "detection:RT_DETR")
_add("object-detection", "d-fine", "detection:D_FINE")
_add("object-detection", "deformable-detr", "detection:DEFORMABLE_DETR")
_add("image-segmentation", "segformer", "dense:SEGFORMER")
_add("image-segmentation", "maskformer", "dense:MASKFORMER")
_add("image-segmentation", "mask2former", "dense:MASK2FORMER")
SEMANTIC_SEGMENTERS = ("dpt", "mobilevit", "upernet", "beit")  # per-pixel logits (dense.SEMANTIC_SEGMENTERS)
for _family in SEMANTIC_SEGMENTERS:
    _add("image-segmentation", _family, f"dense:SEMANTIC_{_family.upper()}")
_add("depth-estimation", "glpn", "dense:GLPN")
_add("depth-estimation", "dpt", "dense:DPT")
_add("depth-estimation", "depth-anything", "dense:DEPTH_ANYTHING")
_add("depth-estimation", "zoedepth", "dense:ZOEDEPTH")
_add("audio-classification", "wav2vec2", "audio:WAV2VEC2")
_add("audio-classification", "ast", "audio:AST")
_add("audio-classification", "whisper", "audio:WHISPER_CLASSIFIER")
_add("automatic-speech-recognition", "ctc", "audio:CTC")
_add("automatic-speech-recognition", "whisper", "audio:WHISPER")
_add("automatic-speech-recognition", "moonshine", "audio:MOONSHINE")
_add("automatic-speech-recognition", "speech2text", "audio:SPEECH2TEXT")


# -- lookups ---------------------------------------------------------------------------------------
def family_keys() -> list[tuple[str, str]]:
    """Every registered (task, family), imports nothing."""
    return list(FAMILIES.keys())  # type: ignore[arg-type]


def exportable_tasks() -> list[str]:
    """Tasks with at least one family, sorted."""
    return sorted({t for t, _ in family_keys()})


def families_for(task: str) -> list[Adapter]:
    """The adapters of a task, in registration order; UnsupportedError when it has none yet."""
    name = get_task(task).name
    found = [FAMILIES.get(k) for k in family_keys() if k[0] == name]
    if not found:
        raise UnsupportedError(
            f"Exporting task '{name}' is not implemented yet. `edgetool tasks` lists the tasks that work today.")
    return found


def get_adapter(task: str, family: str) -> Adapter:
    name = get_task(task).name
    if (name, family) not in FAMILIES:
        known = [f for t, f in family_keys() if t == name]
        if not known:
            families_for(name)  # raises: the task has no family at all
        raise UsageError(f"Task '{name}' has no family '{family}'.{did_you_mean(family, known)} "
                         f"Its families: {', '.join(known)}.")
    return FAMILIES.get((name, family))


def adapter_for(task: str, config_or_model_type) -> Adapter:
    """The adapter of `task` for a checkpoint: from its config (config.model_type) or a model type string.
    A family that lists the model type wins over a generic (ANY) family; no match is a UsageError."""
    model_type = config_or_model_type if isinstance(config_or_model_type, str) else \
        getattr(config_or_model_type, "model_type", None)
    adapters = families_for(task)
    for a in adapters:
        if model_type in a.unexportable:
            raise UnsupportedError(
                f"Model type '{model_type}' cannot be exported for '{a.task}': {a.unexportable[model_type]}. "
                f"Supported: {'; '.join(b.describe() for b in adapters)}.")
    for a in adapters:
        if not a.generic and model_type in a.model_types:  # type: ignore[operator]
            return a
    for a in adapters:
        if a.generic:
            return a
    raise UsageError(
        f"Task '{adapters[0].task}' has no export family for model type '{model_type}'. Families: "
        f"{'; '.join(a.describe() for a in adapters)}. Export a checkpoint of one of these model types, "
        "or pick the task that fits this model.")


def default_reference(task: str) -> str:
    """The name of the task's default built-in reference model (its first family's first reference)."""
    for a in families_for(task):
        if a.references:
            return a.references[0].name
    raise UsageError(f"Task '{get_task(task).name}' has no built-in reference model; pass --model DIR.")


def family_rows() -> list[dict]:
    """Per registered (task, family) that has a runtime head: what `edgetool tasks --json` and the README
    table list (imports every adapter module, hence torch)."""
    from edgetool.runtime.heads import HEADS

    rows = []
    for key in family_keys():
        if key not in HEADS:
            continue
        a = FAMILIES.get(key)
        rows.append({"task": a.task, "family": a.family,
                     "model_types": "any" if a.generic else list(a.model_types),  # type: ignore[arg-type]
                     "references": [r.name for r in a.references]})
    from edgetool.runtime.tasks import all_tasks

    order = {t.name: i for i, t in enumerate(all_tasks())}
    return sorted(rows, key=lambda r: order.get(r["task"], len(order)))  # stable: registration order in a task


def all_adapters() -> list[Adapter]:
    return [FAMILIES.get(k) for k in family_keys()]


def find_reference(name: str) -> tuple[Adapter, ReferenceModel]:
    """The adapter that declares reference model `name`, and the reference."""
    known: dict[str, tuple[Adapter, ReferenceModel]] = {}
    for a in all_adapters():
        for r in a.references:
            known.setdefault(r.name, (a, r))
    if name not in known:
        raise UsageError(f"Unknown reference model '{name}'.{did_you_mean(name, known)} "
                         f"Known: {', '.join(sorted(known))}")
    return known[name]


def reference_builder(ref: ReferenceModel) -> Callable:
    return resolve(ref.build) if isinstance(ref.build, str) else ref.build


__all__ = ["ANY", "Adapter", "ReferenceModel", "FAMILIES", "Sample", "adapter_for", "get_adapter", "families_for",
           "family_rows",
           "default_reference", "family_keys", "exportable_tasks", "all_adapters", "find_reference",
           "reference_builder"]
