"""TensorRT optimization profiles and the build recipe stored in a bundle: GPU-free.

A recipe is an artifact's options: precision, one min/opt/max profile per dynamic input, workspace
limit. Profiles come from the task's typical dims (named in runtime/names.py), the model's own sizes,
or the user's `--shapes`.
"""
from __future__ import annotations

from edgetool.runtime.bundle import PRECISIONS, GraphSpec
from edgetool.runtime.errors import UsageError


# Typical (min, opt, max) per named dim. Graphs from the dynamo exporter name their dims s0, s1, …:
# those fall back by position (axis 0 = batch, cache inputs = past_sequence, others = sequence).
TYPICAL_DIMS: dict[str, tuple[int, int, int]] = {
    "batch": (1, 1, 16),
    "sequence": (1, 128, 512),
    "encoder_sequence": (1, 128, 512),
    "total_sequence": (1, 128, 1024),
    "past_sequence": (0, 0, 512),  # 0: the first step has an empty cache; total = past + sequence at each point
    "choices": (1, 4, 8),
    "height": (32, 224, 1024),
    "width": (32, 224, 1024),
    "samples": (1_600, 160_000, 480_000),  # 0.1 s .. 30 s of 16 kHz audio
    "frames": (1, 1_500, 3_000),
}
SHAPES_EXAMPLE = "input_ids=1x8,1x128,8x512;attention_mask=1x8,1x128,8x512"
Profiles = dict[str, dict[str, list[int]]]  # input -> {"min": [...], "opt": [...], "max": [...]}


# -- profiles ---------------------------------------------------------------------------------------
def parse_shapes(text: str | None) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """`--shapes 'input_ids=1x8,1x128,8x512;attention_mask=…'` -> {input: (min, opt, max)}.
    One shape instead of three fixes that input (min = opt = max)."""
    out: dict = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, spec = (s.strip() for s in part.partition("="))
        if not sep or not name or not spec:
            raise _bad_shapes(part, "expected NAME=MIN,OPT,MAX")
        texts = [s.strip() for s in spec.split(",")]
        texts = texts * 3 if len(texts) == 1 else texts
        if len(texts) != 3:
            raise _bad_shapes(part, f"expected 1 or 3 shapes (min,opt,max), got {len(texts)}")
        shapes = []
        for s in texts:
            try:
                dims = tuple(int(d) for d in s.lower().split("x"))
            except ValueError:
                raise _bad_shapes(part, f"{s!r} is not a shape like 1x128") from None
            if any(d < 0 for d in dims):
                raise _bad_shapes(part, f"{s!r} has a negative size")
            shapes.append(dims)
        _check_range(name, shapes, lambda why, part=part: _bad_shapes(part, why))
        if name in out:
            raise _bad_shapes(part, f"input '{name}' is given twice")
        out[name] = tuple(shapes)
    return out


def _bad_shapes(part: str, why: str) -> UsageError:
    return UsageError(f"--shapes: bad entry {part!r}: {why}. Expected NAME=MIN,OPT,MAX entries separated by ';' "
                      f"with shapes written like 1x128, e.g. '{SHAPES_EXAMPLE}'.")


def _check_range(name: str, shapes, error) -> None:
    if len({len(s) for s in shapes}) != 1:
        raise error(f"min, opt and max of '{name}' must have the same number of dims")
    if not all(a <= b <= c for a, b, c in zip(*shapes)):
        raise error(f"'{name}' needs min <= opt <= max in every dim")


def derive_profiles(graph: GraphSpec, typical: dict | None = None, shapes: dict | None = None) -> Profiles:
    """One (min, opt, max) per dynamic input, from the graph's named dims and typical ranges.

    `typical` overrides TYPICAL_DIMS per dim name; `shapes` ({input: (min, opt, max)}, e.g. from
    parse_shapes) fixes whole inputs, and the dims it names size every input sharing them, so one
    entry for input_ids also sizes attention_mask (TensorRT needs them consistent)."""
    table = {**TYPICAL_DIMS, **{k: tuple(v) for k, v in (typical or {}).items()}}
    for dim, r in table.items():
        if len(r) != 3 or not all(isinstance(v, int) and v >= 0 for v in r) or not r[0] <= r[1] <= r[2]:
            raise UsageError(f"Typical range for dim '{dim}' must be (min, opt, max) integers with "
                             f"0 <= min <= opt <= max, got {r!r}.")
    inputs = {t.name: t for t in graph.inputs}
    explicit = {name: tuple(tuple(int(d) for d in s) for s in triple) for name, triple in (shapes or {}).items()}
    for name, triple in explicit.items():
        _check_explicit(graph, inputs, name, triple)
        for axis, dim in enumerate(inputs[name].shape):
            if _dynamic(dim) and dim != "?":
                table[dim] = tuple(s[axis] for s in triple)
    seen: dict[str, tuple[int, int, int]] = {}
    has_past = any("past" in t.name for t in graph.inputs)
    profiles: Profiles = {}
    for t in graph.inputs:
        if not any(_dynamic(d) for d in t.shape):
            continue  # static inputs need no profile
        ranges = [_range(d, axis, t.name, table, seen, has_past, graph.name) for axis, d in enumerate(t.shape)]
        if t.name in explicit:
            ranges = list(zip(*explicit[t.name]))
        profiles[t.name] = {k: [r[i] for r in ranges] for i, k in enumerate(("min", "opt", "max"))}
    return profiles


def _dynamic(dim) -> bool:
    return not (isinstance(dim, int) and dim >= 0)


# Inputs whose non-batch axes have a fixed meaning (the HF names), for dims the exporter left unnamed.
ROLE_BY_INPUT = {"pixel_values": {2: "height", 3: "width"}, "pixel_mask": {1: "height", 2: "width"},
                 "input_features": {2: "frames"}, "input_values": {1: "samples"}}


def fallback_dim(input_name: str, axis: int, has_past: bool, graph_name: str = "") -> str:
    """The role of an unnamed or exporter-named (dynamo: s0, s1, …) dim, from the input's name and position."""
    if axis == 0:
        return "batch"
    if axis in ROLE_BY_INPUT.get(input_name, {}):
        return ROLE_BY_INPUT[input_name][axis]
    # encoder_hidden_states, encoder_attention_mask, the cross-attention cache (past_key_values.N.encoder.key)
    # and every input of a seq2seq "encoder" graph run at the source's length, not the generated one
    if "encoder" in input_name or graph_name == "encoder":
        return "encoder_sequence"
    if "past" in input_name:
        return "past_sequence"
    if has_past and "attention_mask" in input_name:  # a decoder's mask spans cache + new tokens
        return "total_sequence"
    return "sequence"


def _range(dim, axis: int, input_name: str, table: dict, seen: dict, has_past: bool = False,
           graph_name: str = "") -> tuple[int, int, int]:
    if not _dynamic(dim):
        return (dim, dim, dim)
    if dim in seen:  # one symbol, one range: the graph asserts those dims are equal
        return seen[dim]
    role = dim if dim in table else fallback_dim(input_name, axis, has_past, graph_name)
    if graph_name == "encoder" and role == "sequence":  # a generation task's "sequence" is the decoder's
        role = "encoder_sequence"
    r = table[role]
    if dim != "?":  # '?' is an unnamed dim: no identity to share
        seen[dim] = r
    return r


def _check_explicit(graph: GraphSpec, inputs: dict, name: str, triple) -> None:
    if name not in inputs:
        raise UsageError(f"--shapes names input '{name}', which graph '{graph.name}' does not have. "
                         f"Its inputs are: {', '.join(inputs)}.")
    shape = inputs[name].shape
    if len(triple) != 3:
        raise UsageError(f"--shapes for '{name}' needs (min, opt, max) shapes, got {len(triple)}.")
    _check_range(name, triple, lambda why: UsageError(f"--shapes: {why}."))
    if len(triple[0]) != len(shape):
        raise UsageError(f"--shapes gives '{name}' {len(triple[0])} dims; the graph's input has {len(shape)}: "
                         f"{list(shape)}.")
    for axis, dim in enumerate(shape):
        if not _dynamic(dim) and any(s[axis] != dim for s in triple):
            raise UsageError(f"--shapes: dim {axis} of '{name}' is fixed at {dim} in the graph ({list(shape)}), "
                             f"got {[s[axis] for s in triple]}.")


def typical_from_processing(processing: dict | None, typical: dict | None = None) -> dict[str, tuple[int, int, int]]:
    """`typical` (a task's ranges over TYPICAL_DIMS) capped at the bundle's tokenizer limit
    (`processing.tokenizer.model_max_length`): a profile longer than the position table fails the build
    (e.g. Whisper's decoder stops at 448). {} when there is neither a limit nor a task table.

    Encoder sequences are capped alone. A task that declares `past_sequence` (a decoder with a KV cache)
    keeps total = past + sequence at min, opt and max, which TensorRT checks; the cap keeps the task's
    split of the window between prompt and cache."""
    limit = ((processing or {}).get("tokenizer") or {}).get("model_max_length")
    typical = {k: tuple(v) for k, v in (typical or {}).items()}
    if not isinstance(limit, int) or not 1 <= limit < 1_000_000:
        return typical
    table = {**TYPICAL_DIMS, **typical}
    out = dict(typical)
    for dim in ("sequence", "encoder_sequence", "total_sequence"):
        out[dim] = tuple(min(v, limit) for v in table[dim])
    if "past_sequence" in typical:
        seq, past, total = table["sequence"], table["past_sequence"], table["total_sequence"]
        t_min, t_opt, t_max = (min(v, limit) for v in total)
        s_max = min(seq[2], max(1, -(-t_max * seq[2] // total[2])))  # the task's prompt share of the window
        s_opt = min(seq[1], t_opt, s_max)
        t_opt = max(t_min, min(t_opt, t_max - s_max + s_opt))  # so that the cache's opt stays <= its max
        out["total_sequence"] = (t_min, t_opt, t_max)
        out["sequence"] = (seq[0], s_opt, s_max)
        out["past_sequence"] = (past[0], t_opt - s_opt, t_max - s_max)
    return out


def check_shapes_cover(shapes: dict | None, graphs) -> None:
    """Every input --shapes names must exist in some graph of the bundle (each graph takes its own)."""
    known = {t.name for g in graphs for t in g.inputs}
    unknown = sorted(set(shapes or {}) - known)
    if unknown:
        raise UsageError(f"--shapes names {', '.join(repr(n) for n in unknown)}, which no graph of this model has. "
                         f"Its inputs are: {', '.join(sorted(known))}.")


def make_recipe(graph: GraphSpec, precision: str, typical: dict | None = None, shapes: dict | None = None,
                workspace_mb: int | None = None) -> dict:
    """What the device needs to build the engine; stored as the artifact's options."""
    if precision not in PRECISIONS:
        raise UsageError(f"Unknown precision '{precision}'; expected one of {', '.join(PRECISIONS)}.")
    if workspace_mb is not None and (not isinstance(workspace_mb, int) or workspace_mb < 1):
        raise UsageError(f"--workspace must be a positive number of MiB, got {workspace_mb!r}.")
    inputs = {t.name for t in graph.inputs}
    shapes = {k: v for k, v in (shapes or {}).items() if k in inputs}  # other graphs' inputs: their own recipes
    recipe = {"engine": "built on the device (edgetool build BUNDLE)", "precision": precision,
              "profiles": derive_profiles(graph, typical, shapes), "workspace_mb": workspace_mb,
              "timing_cache": "per GPU and TensorRT version, next to the cached engines"}
    if precision == "int8":
        recipe["quantization"] = "explicit (QDQ ONNX)"
    return recipe


RECIPE_KEYS = ("precision", "profiles", "workspace_mb")
# Present only when they apply, so recipes without them read (and key their engines) as before:
# "typing": "strong" asks for a strongly typed build where TensorRT still offers both ("weak" asks for the
# TensorRT 10 path, which TensorRT 11 refuses); "fp16_onnx": the artifact's strongly typed fp16 ONNX (file name).
OPTIONAL_RECIPE_KEYS = ("typing", "fp16_onnx")
TYPINGS = ("weak", "strong")


def recipe_note(recipe: dict) -> dict:
    """The recipe's build-relevant keys, as stored in manifests and the cache's notes."""
    return {**{k: recipe.get(k) for k in RECIPE_KEYS},
            **{k: recipe[k] for k in OPTIONAL_RECIPE_KEYS if recipe.get(k) is not None}}


def recipe_from_options(options: dict | None, graph: GraphSpec, precision: str, typical: dict | None = None) -> dict:
    """The recipe stored in a trt artifact (its manifest options), or a default one for a plain ONNX artifact."""
    if options and "profiles" in options:
        recipe = recipe_note(options)
        recipe["precision"] = recipe["precision"] or precision
        return recipe
    return {k: v for k, v in make_recipe(graph, precision, typical).items() if k in RECIPE_KEYS}
