"""Sessions over shared weights: tiny real ONNX graphs with external data, run by ONNX Runtime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from assistant import onnx_weights


def _graph(folder: Path, w: np.ndarray, bias: np.ndarray) -> Path:
    """Y = X @ W + B, both weights in an external data file beside the graph (written atomically, as exports are)."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, w.shape[0]])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, w.shape[1]])],
                          [numpy_helper.from_array(w, "W"), numpy_helper.from_array(bias, "B")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    tmp = folder / "tmp.onnx"
    onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    os.replace(tmp, folder / "model.onnx")
    return folder / "model.onnx"


def _run(path: Path, base: Path | None = None) -> np.ndarray:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    return onnx_weights.session(path, base).run(None, {"X": x})[0]


def test_a_graph_runs_on_its_mapped_weights(tmp_path: Path) -> None:
    """The session answers what the graph computes, its weights read from the mapped file."""
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    path = _graph(tmp_path / "a", w, b)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert np.allclose(_run(path), x @ w + b, atol=1e-5)
    assert (tmp_path / "a" / ("model.onnx" + onnx_weights.TABLE)).is_file()  # found once, kept beside it


def test_equal_tensors_are_the_base_graphs_bytes_and_the_rest_its_own(tmp_path: Path) -> None:
    """A graph sharing W with its base reads the base's W (the same memory) and keeps its own B."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    base = _graph(tmp_path / "base", w, np.zeros(3, dtype=np.float32))
    mine = _graph(tmp_path / "mine", w, np.ones(3, dtype=np.float32))
    assert onnx_weights.aliases(mine, base) == {"W": "W"}
    mv, bv = onnx_weights.weights(mine, base), onnx_weights.weights(base)
    assert mv["W"].data_ptr() == bv["W"].data_ptr() and mv["B"].data_ptr() != bv["B"].data_ptr()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert np.allclose(_run(mine, base), x @ w + 1, atol=1e-5)


def test_a_graph_exported_again_is_read_again(tmp_path: Path) -> None:
    """Re-exported in place (new weights, same paths), a graph's next session reads the new weights, and its
    shared-weights table is found again rather than trusted."""
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    base = _graph(tmp_path / "base", w, np.zeros(3, dtype=np.float32))
    mine = _graph(tmp_path / "mine", w, np.ones(3, dtype=np.float32))
    assert onnx_weights.aliases(mine, base) == {"W": "W"}
    _run(mine, base)
    w2 = w + 1
    _graph(tmp_path / "base", w2, np.zeros(3, dtype=np.float32))
    os.utime(tmp_path / "base" / "model.onnx.data", ns=(1, 1))  # a new stamp whatever the clock's resolution
    os.utime(tmp_path / "base" / "model.onnx", ns=(1, 1))
    assert onnx_weights.aliases(mine, base) == {}
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert np.allclose(_run(base), x @ w2, atol=1e-5)
    assert np.allclose(_run(mine, base), x @ w + 1, atol=1e-5)
