"""Running a static-shape artifact (e.g. OpenVINO reshaped to batch=1, sequence=128) with the
variable-shape feeds pipelines produce: shorter named dims are zero-padded (padding positions get
attention_mask 0, so encoders ignore them), a batch larger than a static batch of 1 runs row by row,
and outputs are sliced back along the same named dims. Dims are matched by the names the bundle's
graph spec gives them ("batch", "sequence", ...), never by position guesses."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError


def static_sizes(input_dims: dict[str, tuple], compiled_shapes: dict[str, tuple]) -> dict[str, int]:
    """{dim name: fixed size} for named (dynamic in the bundle) dims that the artifact fixed."""
    sizes: dict[str, int] = {}
    for name, dims in input_dims.items():
        shape = compiled_shapes.get(name)
        if shape is None:
            continue
        for d, s in zip(dims, shape):
            if isinstance(d, str) and s is not None and s >= 0:
                sizes[d] = int(s)
    return sizes


def fit(feeds: dict[str, np.ndarray], input_dims: dict[str, tuple], sizes: dict[str, int]):
    """-> (list of feed dicts to run, actual sizes by dim name). Raises when a feed exceeds a static dim."""
    actual: dict[str, int] = {}
    for name, dims in input_dims.items():
        if name in feeds:
            for d, s in zip(dims, np.shape(feeds[name])):
                if isinstance(d, str):
                    actual[d] = int(s)
    for d, fixed in sizes.items():
        if actual.get(d, fixed) > fixed and not (d == _batch_name(input_dims) and fixed == 1):
            raise UsageError(f"Input dim '{d}' is {actual[d]} but this artifact was built with static {d}={fixed}. "
                             f"Shorten the input, or use an artifact with dynamic shapes (re-export without --static-shapes).")
    batch = _batch_name(input_dims)
    rows = actual.get(batch, 1) if batch in sizes and sizes[batch] == 1 else 1
    out = []
    for r in range(rows):
        one = {}
        for name, arr in feeds.items():
            arr = np.asarray(arr)
            dims = input_dims.get(name, ())
            if rows > 1 and dims and dims[0] == batch:
                arr = arr[r:r + 1]
            pad = [(0, max(0, sizes[d] - arr.shape[i])) if isinstance(d, str) and d in sizes else (0, 0)
                   for i, d in enumerate(dims)] if len(dims) == arr.ndim else None
            one[name] = np.pad(arr, pad) if pad and any(p[1] for p in pad) else arr
        out.append(one)
    return out, actual


def unfit(results: list[dict[str, np.ndarray]], output_dims: dict[str, tuple], actual: dict[str, int]) -> dict[str, np.ndarray]:
    """Concatenate row-by-row results and slice padded named dims back to their actual sizes."""
    merged = {}
    for name in results[0]:
        arrs = [r[name] for r in results]
        dims = output_dims.get(name, ())
        arr = np.concatenate(arrs, axis=0) if len(arrs) > 1 else arrs[0]
        if len(dims) == arr.ndim:
            index = tuple(slice(0, actual[d]) if isinstance(d, str) and d in actual else slice(None)
                          for d in dims)
            arr = arr[index]
        merged[name] = arr
    return merged


def _batch_name(input_dims: dict[str, tuple]) -> str | None:
    for dims in input_dims.values():
        if dims and isinstance(dims[0], str):
            return dims[0]
    return None
