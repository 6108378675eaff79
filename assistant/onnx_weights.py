"""ONNX Runtime sessions over shared weights: one memory map per weights file, a tensor held once a process.

The span head is e5-small with only its top layers retrained: its word embeddings and bottom layers are the
embedder's, byte for byte (441 of its 470 MB). Left to itself each session maps its own file and prepacks its
matrices into its own heap, so a process held those layers twice (about 60 MB). Sessions made here get every
external tensor as a pre-allocated initializer over one process-wide memory map per file; a tensor of a graph
that equals one of its ``base`` graph's (compared by content once, the result kept beside the graph) is given the
base's bytes. Prepacking is off, since it copies each session's matrices into that session's heap: it costs the
span head about a tenth of its time and the embedder about 6 ms a question (measured in the README's Benchmark).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ALIASES = "shared-weights.json"  # beside a graph: which of its tensors are its base graph's
TABLE = ".tensors.json"  # beside a graph (its name + this): where each of its external tensors lies
_CHUNK = 1 << 22

_lock = threading.Lock()
_maps: dict[tuple, np.memmap] = {}  # (path, inode, size, mtime) -> its map
_values: dict[tuple, Any] = {}  # (that file, offset, length) -> OrtValue


@dataclass(frozen=True)
class Tensor:
    """Where one external tensor of a graph lies: its data file, byte offset and length, dtype and shape."""

    data: Path
    offset: int
    length: int
    dtype: np.dtype
    dims: tuple[int, ...]

    def same_layout(self, other: "Tensor") -> bool:
        """Whether ``other`` has this tensor's dtype, shape and size."""
        return (self.dtype, self.dims, self.length) == (other.dtype, other.dims, other.length)


def external_tensors(onnx_path: Path) -> dict[str, Tensor]:
    """The graph's initializers kept in external data files, by name.

    Read from the graph once (``import onnx`` alone costs a fresh process half a second) and kept beside it in
    a small table, read again when the graph changes."""
    onnx_path = Path(onnx_path)
    kept = onnx_path.with_name(onnx_path.name + TABLE)
    stamp = _stamp(onnx_path)
    try:
        saved = json.loads(kept.read_text(encoding="utf-8"))
        if saved.get("graph") == stamp:
            return _tensors(onnx_path.parent, saved["tensors"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no table, an old one or a damaged one: read the graph again
    table = _read_table(onnx_path)
    _keep(kept, {"graph": stamp, "tensors": table})
    return _tensors(onnx_path.parent, table)


def _tensors(folder: Path, table: dict[str, list]) -> dict[str, Tensor]:
    out = {}
    for n, (loc, off, n_bytes, dt, dims) in table.items():
        data = Path(os.path.normpath(folder / loc))
        if Path(os.path.normpath(folder)) not in data.parents:  # as ONNX Runtime insists: the data lies in its folder
            raise ValueError(f"external data of {n} outside {folder}: {loc}")
        out[n] = Tensor(data, int(off), int(n_bytes), np.dtype(dt), tuple(int(x) for x in dims))
    return out


def _read_table(onnx_path: Path) -> dict[str, list]:
    """[location, offset, length, dtype, dims] of each external initializer, read from the graph itself."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    table = {}
    for t in onnx.load(str(onnx_path), load_external_data=False).graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            d = {e.key: e.value for e in t.external_data}
            table[t.name] = [d["location"], int(d.get("offset", 0)), int(d["length"]),
                             np.dtype(tensor_dtype_to_np_dtype(t.data_type)).str, [int(x) for x in t.dims]]
    return table


def _keep(path: Path, data: dict) -> None:
    """Write ``data`` as JSON atomically; a read-only folder only means it is found again next time."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".weights-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("could not keep %s (%s)", path, exc)


def _digest(f: Any, t: Tensor) -> bytes:
    f.seek(t.offset)
    h, left = hashlib.blake2b(digest_size=16), t.length
    while left > 0:  # read in chunks: a whole 384 MB table read at once would sit in the process's memory
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.digest()


def _digests(tensors: dict[str, Tensor]) -> dict[str, tuple[bytes, tuple[int, ...]]]:
    out, files = {}, {}
    try:
        for name, t in tensors.items():
            f = files.get(t.data) or files.setdefault(t.data, open(t.data, "rb"))
            out[name] = (_digest(f, t), t.dims)
    finally:
        for f in files.values():
            f.close()
    return out


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def aliases(onnx_path: Path, base_path: Path) -> dict[str, str]:
    """The tensors of ``onnx_path`` equal to one of ``base_path``'s: {its name: the base's name}.

    Found by content once (about 2 s for two e5-small graphs) and kept beside the graph with the base's file
    stamps; found again when the base graph or its data changed."""
    base_path = Path(base_path)
    mine, base = external_tensors(onnx_path), external_tensors(base_path)
    stamps = {str(p): _stamp(p) for p in sorted({t.data for t in base.values()} | {base_path})}
    kept = Path(onnx_path).parent / ALIASES
    try:
        saved = json.loads(kept.read_text(encoding="utf-8"))
        if saved.get("base") == stamps:
            return _checked(saved["tensors"], mine, base)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    by_content: dict[tuple[bytes, tuple[int, ...]], str] = {}
    for name, key in _digests(base).items():
        by_content.setdefault(key, name)
    found = {name: by_content[key] for name, key in _digests(mine).items() if key in by_content}
    _keep(kept, {"base": stamps, "tensors": found})
    return _checked(found, mine, base)


def _checked(found: dict[str, str], mine: dict[str, Tensor], base: dict[str, Tensor]) -> dict[str, str]:
    return {n: b for n, b in found.items() if n in mine and b in base and mine[n].same_layout(base[b])}


def _value(t: Tensor) -> Any:
    import onnxruntime as ort

    path = t.data.resolve()
    st = path.stat()
    file = (path, st.st_ino, st.st_size, st.st_mtime_ns)  # a file exported again is another file
    key = (file, t.offset, t.length)
    with _lock:
        if key not in _values:
            mm = _maps.get(file)
            if mm is None:
                mm = _maps[file] = np.memmap(path, dtype=np.uint8, mode="r")
            array = np.frombuffer(mm, dtype=t.dtype, count=t.length // t.dtype.itemsize, offset=t.offset)
            _values[key] = ort.OrtValue.ortvalue_from_numpy(array.reshape(t.dims))
        return _values[key]


def weights(onnx_path: Path, base_path: Path | None = None) -> dict[str, Any]:
    """Every external tensor of the graph as an OrtValue over the shared maps; the base's bytes where equal."""
    mine = external_tensors(onnx_path)
    same: dict[str, str] = {}
    base: dict[str, Tensor] = {}
    if base_path is not None and Path(base_path).is_file():
        try:
            same, base = aliases(onnx_path, base_path), external_tensors(base_path)
        except Exception as exc:  # noqa: BLE001  (an unreadable base: the graph's own weights are complete)
            log.warning("weights of %s not shared (%s)", onnx_path, exc)
            same = {}
    return {name: _value(base[same[name]] if name in same else t) for name, t in mine.items()}


def session(onnx_path: Path, base_path: Path | None = None) -> Any:
    """An ONNX Runtime CPU session for a serving process: one thread between operators, no spinning, weights
    shared through the process-wide maps (with ``base_path``'s where equal)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    # ONNX Runtime's threads spin while waiting for work by default: a third more CPU a question for no
    # gain in a server, CPU the serving process and other users' questions need
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.disable_prepacking", "1")
    options.log_severity_level = 3
    for name, value in weights(onnx_path, base_path).items():
        options.add_initializer(name, value)
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
