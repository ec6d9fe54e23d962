"""A numpy array that grows by doubling, so appending one value never copies all of them."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T", bound=np.generic)


class GrowableArray(Generic[T]):
    """A 1-d array with amortised O(1) append; `view()` is the filled part (no copy)."""

    __slots__ = ("_data", "_size")

    def __init__(self, dtype: type[T], capacity: int = 16) -> None:
        self._data: npt.NDArray[T] = np.zeros(max(capacity, 1), dtype=dtype)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, value: Any) -> None:
        if self._size == self._data.shape[0]:
            grown = np.zeros(self._size * 2, dtype=self._data.dtype)
            grown[: self._size] = self._data
            self._data = grown
        self._data[self._size] = value
        self._size += 1

    def __setitem__(self, index: int, value: Any) -> None:
        if not 0 <= index < self._size:
            raise IndexError(index)
        self._data[index] = value

    def view(self) -> npt.NDArray[T]:
        return self._data[: self._size]
