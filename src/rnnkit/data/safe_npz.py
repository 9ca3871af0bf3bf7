"""Read ``.npz`` archives whose members may be object arrays — a list of arrays of different
lengths, as Sketch-RNN's data sets store their drawings — without ``allow_pickle=True``.

An object array is stored as a pickle, and ``numpy.load(allow_pickle=True)`` would run any
callable a crafted file names. Here the pickle is read by `RestrictedUnpickler`, whose
``find_class`` hands out only inert stand-ins for the few globals NumPy's own pickles of arrays
name (checked against the pickles numpy 1.x under Python 2 and numpy 2.4 write):

=================================================  ==========================================
global                                             what the pickle does with it
=================================================  ==========================================
``numpy.core.multiarray._reconstruct``             ``_reconstruct(ndarray, (0,), b"b")``: an
(numpy 1.x; ``numpy._core.multiarray`` in 2.x)     empty array, filled by ``__setstate__``
``numpy.ndarray``                                  the first argument of ``_reconstruct`` only
``numpy.dtype``                                    ``dtype("i2", False, True)`` + its state
``numpy.core.multiarray.scalar`` (or ``_core``)    ``scalar(dtype, bytes)``: a numpy scalar
``_codecs.encode``                                 ``encode(text, "latin1")``: bytes, as Python
                                                   3 writes them at pickle protocol 2
=================================================  ==========================================

Any other global is refused with a `UserError` naming the file and the global, before
anything is called. The stand-ins record what the pickle asks for, and the arrays are then
built from raw bytes by `numpy.frombuffer`, after checking that every dtype is a plain number
or object type and that every buffer has exactly the size its shape and dtype need — so even a
pickle that names only allowed globals cannot make NumPy read memory it does not own (calling
``numpy.ndarray`` directly on a buffer with an object dtype, say, crashes the interpreter).
Members that are not object arrays are read by ``numpy.lib.format.read_array`` with
``allow_pickle=False``.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from rnnkit.errors import UserError

PLAIN_DTYPE = re.compile(r"^(b1|[iu][1248]|f[248]|O[48])$")  # dtype specs a pickle may name
BYTE_ORDERS = "<>|="


class _NdarrayMarker:
    """Stands for ``numpy.ndarray``, which a pickle may only pass to ``_reconstruct``."""


class _DtypeSpec:
    """Stands for ``numpy.dtype(spec, align, copy)`` and the state the pickle gives it."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if isinstance(spec, bytes):
            spec = spec.decode("latin1")
        if not isinstance(spec, str) or not PLAIN_DTYPE.match(spec):
            raise pickle.UnpicklingError(f"dtype {spec!r} is not a plain number or object type")
        self.spec, self.order = spec, "|"

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
        if not isinstance(state, tuple) or len(state) < 5:
            raise pickle.UnpicklingError("malformed dtype state")
        order = state[1].decode("latin1") if isinstance(state[1], bytes) else state[1]
        if order not in BYTE_ORDERS or any(part is not None for part in state[2:5]):
            raise pickle.UnpicklingError("only plain dtypes (no fields, no subarrays) are read")
        self.order = order

    def dtype(self) -> np.dtype[Any]:
        order = "" if self.order in "|=" else self.order
        return np.dtype(order + self.spec)


class _ArraySpec:
    """Stands for an array under construction: ``_reconstruct(...)`` then ``__setstate__``."""

    def __init__(self) -> None:
        self.state: tuple[Any, ...] | None = None

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes or a list of objects)
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("malformed array state")
        self.state = state


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArraySpec:
    if not isinstance(cls, _NdarrayMarker):
        raise pickle.UnpicklingError("_reconstruct may only build a numpy.ndarray")
    return _ArraySpec()


def _scalar(dtype: Any, data: Any) -> Any:
    if not isinstance(dtype, _DtypeSpec) or dtype.spec.startswith("O"):
        raise pickle.UnpicklingError("a scalar needs a plain number dtype")
    return _from_bytes(data, dtype.dtype(), ())[()]


def _latin1_encode(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only read for latin1 text")
    return text.encode("latin1")


_NDARRAY = _NdarrayMarker()
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeSpec,
    ("_codecs", "encode"): _latin1_encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside `ALLOWED`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that knows only the stand-ins of `ALLOWED`; Python 2 strings are read as
    latin1, as NumPy reads them, so their bytes survive."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise RefusedGlobal(f"{module}.{name}")
        return ALLOWED[(module, name)]


def _from_bytes(
    data: Any, dtype: np.dtype[Any], shape: tuple[int, ...], fortran: bool = False
) -> np.ndarray:
    """A fresh array of ``dtype`` and ``shape`` from exactly as many bytes as it needs."""
    if isinstance(data, str):  # Python 2 pickles: bytes read as latin1 text
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != math.prod(shape) * dtype.itemsize:
        raise pickle.UnpicklingError("array data does not match its shape and dtype")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def _build(value: Any) -> Any:
    """``value`` with every `_ArraySpec` in it turned into a real array."""
    if not isinstance(value, _ArraySpec):
        return value
    if value.state is None:
        raise pickle.UnpicklingError("an array was never given its contents")
    _, shape, dtype, fortran, data = value.state
    if not isinstance(dtype, _DtypeSpec) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("malformed array state")
    if not all(isinstance(size, int) and size >= 0 for size in shape):
        raise pickle.UnpicklingError(f"malformed array shape {shape!r}")
    if not dtype.spec.startswith("O"):
        return _from_bytes(data, dtype.dtype(), shape, bool(fortran))
    if not isinstance(data, list) or len(data) != math.prod(shape):
        raise pickle.UnpicklingError("object array data does not match its shape")
    array = np.empty(len(data), dtype=object)
    for index, item in enumerate(data):
        array[index] = _build(item)
    return array.reshape(shape, order="F" if fortran else "C")


def _object_array(member: IO[bytes], path: Path, key: str) -> np.ndarray:
    try:
        loaded = _build(RestrictedUnpickler(member).load())
    except RefusedGlobal as refused:
        raise UserError(
            f"member {key!r} is a pickle naming {refused.name}, which is refused: only NumPy "
            "arrays are read from .npz files",
            path=path,
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise UserError(
            f"member {key!r} is not a valid pickled array ({error})", path=path
        ) from None
    if not isinstance(loaded, np.ndarray):
        raise UserError(f"member {key!r} does not hold an array", path=path)
    return loaded


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    """The array stored as ``name`` in ``archive``."""
    key = name.removesuffix(".npy")
    try:
        with archive.open(name) as member:
            data = io.BytesIO(member.read())
    except (zipfile.BadZipFile, zlib.error) as error:
        raise UserError(f"member {key!r} cannot be read ({error})", path=path) from None
    try:
        dtype = _header_dtype(data)
    except ValueError as error:
        raise UserError(f"member {key!r} is not a valid .npy array ({error})", path=path) from None
    if dtype.hasobject:
        return _object_array(data, path, key)
    data.seek(0)
    try:
        return np.asarray(npy_format.read_array(data, allow_pickle=False))
    except ValueError as error:
        raise UserError(f"member {key!r} is not a valid .npy array ({error})", path=path) from None


def _header_dtype(data: IO[bytes]) -> np.dtype[Any]:
    """The dtype in the header of the ``.npy`` file ``data``, read up to the array data."""
    version = npy_format.read_magic(data)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(data)[2]
    if version == (2, 0):
        return npy_format.read_array_header_2_0(data)[2]
    raise ValueError(f"unsupported .npy format version {version}")


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` file ``path``, by key, object arrays included (read safely:
    see the module docstring). Raises `UserError` for a missing file, a file that is not an
    ``.npz`` archive, and members that are not valid arrays or name a refused global."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UserError("no such file", path=path) from None
    except IsADirectoryError:
        raise UserError("is a directory, not an .npz file", path=path) from None
    except zipfile.BadZipFile:
        raise UserError("not an .npz file (not a zip archive)", path=path) from None
    with archive:
        names = [name for name in archive.namelist() if name.endswith(".npy")]
        return {name.removesuffix(".npy"): _member(archive, name, path) for name in names}
