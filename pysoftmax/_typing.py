"""Type aliases of the public API (for annotations only; PEP 561: the
package ships a py.typed marker).

`ForeignArray` is what an array of another library offers (DLPack, the
array API): such an array comes back as its own type (`ArrayT`).

Imports: nothing of the package.
"""
from __future__ import annotations

import os
from typing import Any, Protocol, TypeVar, Union

import numpy as np
import numpy.typing as npt


class SupportsDLPack(Protocol):
    """An array that exports its memory through DLPack (a PyTorch tensor)."""

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any: ...

    def __dlpack_device__(self) -> Any: ...


class SupportsArrayNamespace(Protocol):
    """An array of the array API standard (array_api_strict, JAX, CuPy)."""

    def __array_namespace__(self, *args: Any, **kwargs: Any) -> Any: ...


ForeignArray = Union[SupportsDLPack, SupportsArrayNamespace]
ArrayT = TypeVar("ArrayT", bound=ForeignArray)

# The result of a call on NumPy input: an array of a floating dtype (a NumPy
# scalar of that dtype for 0-d input without out=).
FloatArray = npt.NDArray[np.floating[Any]]

# scale: a real number.
RealScalar = Union[float, np.floating[Any], np.integer[Any]]

# axis: an int, a tuple of ints, or None (every axis).
Axis = Union[int, tuple[int, ...], None]

# A file system path.
PathLike = Union[str, "os.PathLike[str]"]
