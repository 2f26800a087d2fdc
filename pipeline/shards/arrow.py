"""Conversions between numpy and Arrow arrays that go through buffers only.

In pyarrow 26, ``pa.array`` and ``Array.to_numpy`` check whether their argument is a pandas
object, which imports pandas on the first call of a process. That import took 0.6 s on the
development machine, about a tenth of the shards stage on the shared corpus samples, and bare
``encode_batch`` never pays it. These helpers build and read the same arrays from raw buffers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def to_arrow(values: np.ndarray) -> pa.Array:
    """Wrap a 1-D numeric or boolean numpy array as an Arrow array; numbers are not copied."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def string_array(strings: list[str]) -> pa.Array:
    """Return an Arrow ``string`` array of ``strings``."""
    encoded = [string.encode("utf-8") for string in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def numpy_view(array: pa.Array) -> np.ndarray:
    """Return a read-only numpy view of the values of a numeric Arrow array without nulls."""
    if array.null_count:
        raise ValueError(f"unexpected null in a {array.type} column")
    dtype = np.dtype(array.type.to_pandas_dtype())
    values = np.frombuffer(array.buffers()[1], dtype=dtype, count=array.offset + len(array))
    return values[array.offset :]


def numpy_values(array: pa.Array) -> np.ndarray:
    """Return the values of an integer Arrow array without nulls as a new int64 array."""
    return numpy_view(array).astype(np.int64)
