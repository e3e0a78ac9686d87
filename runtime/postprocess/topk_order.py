"""The order in which PyTorch's CPU `topk(k, sorted=False)` returns the k largest values.

transformers' MaskFormer instance post-processing keeps that order, and later masks overwrite earlier
ones, so the masks depend on it. torch (ATen/native/TopKImpl.h) fills a vector of (value, index) pairs
and runs `std::partial_sort` (sorted, largest first) when k * 64 <= n, else `std::nth_element` with the
k-th position; this ports libstdc++'s introselect (median-of-three pivot, unguarded partition,
insertion sort below 4 elements) so the unsorted order comes out the same.
"""
from __future__ import annotations

import math

import numpy as np


def _gt(a: float, b: float) -> bool:  # torch's comparator for largest=True: NaN first, then greater
    return (math.isnan(a) and not math.isnan(b)) or a > b


def _median_to_first(v: list, result: int, a: int, b: int, c: int) -> None:
    def comp(i, j):
        return _gt(v[i][0], v[j][0])

    if comp(a, b):
        if comp(b, c):
            pick = b
        elif comp(a, c):
            pick = c
        else:
            pick = a
    elif comp(a, c):
        pick = a
    elif comp(b, c):
        pick = c
    else:
        pick = b
    v[result], v[pick] = v[pick], v[result]


def _unguarded_partition(v: list, first: int, last: int, pivot: int) -> int:
    while True:
        while _gt(v[first][0], v[pivot][0]):
            first += 1
        last -= 1
        while _gt(v[pivot][0], v[last][0]):
            last -= 1
        if not first < last:
            return first
        v[first], v[last] = v[last], v[first]
        first += 1


def _insertion_sort(v: list, first: int, last: int) -> None:
    for i in range(first + 1, last):
        val = v[i]
        if _gt(val[0], v[first][0]):
            v[first + 1:i + 1] = v[first:i]
            v[first] = val
        else:
            j = i
            while _gt(val[0], v[j - 1][0]):
                v[j] = v[j - 1]
                j -= 1
            v[j] = val


def _heap_select_fallback(v: list, first: int, nth: int, last: int) -> None:
    # libstdc++ switches to heap_select when introselect's depth budget runs out (pathological pivots);
    # not ported: the selected set is still right, its order may differ from torch's here.
    v[first:last] = sorted(v[first:last], key=lambda e: -e[0])


def _nth_element(v: list, nth: int) -> None:
    first, last = 0, len(v)
    if nth == last:
        return
    depth = 2 * (last.bit_length() - 1)
    while last - first > 3:
        if depth == 0:
            _heap_select_fallback(v, first, nth, last)
            return
        depth -= 1
        mid = first + (last - first) // 2
        _median_to_first(v, first, first + 1, mid, last - 1)
        cut = _unguarded_partition(v, first + 1, last, first)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(v, first, last)


def topk_unsorted(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest of a 1-D array, in torch CPU topk(sorted=False)'s order."""
    flat = np.asarray(values).ravel()
    n = flat.size
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k * 64 <= n:  # std::partial_sort: the k largest, sorted (ties: by index here)
        order = np.lexsort((np.arange(n), -flat.astype(np.float64)))
        return order[:k].astype(np.int64)
    v = [(float(x), i) for i, x in enumerate(flat.tolist())]
    _nth_element(v, k - 1)
    return np.asarray([i for _, i in v[:k]], dtype=np.int64)
