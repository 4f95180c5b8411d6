"""Small real model files of each format, written the way their own tools write them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MiB = 1024 * 1024


def _weights(total_bytes: int, parts: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    per = total_bytes // parts // 4
    return [rng.standard_normal(per, dtype=np.float32) for _ in range(parts)]


def make_safetensors(
    path: Path, size: int = 24 * MiB, seed: int = 1, prefix: str = "layer"
) -> Path:
    """A ``.safetensors`` file of ``size`` bytes of float32 tensors (``safetensors.numpy``)."""
    from safetensors.numpy import save_file

    tensors = {f"{prefix}.{i}.weight": w for i, w in enumerate(_weights(size, 4, seed))}
    save_file(tensors, str(path), metadata={"format": "np"})
    return path


def make_gguf(path: Path, size: int = 24 * MiB, seed: int = 2) -> Path:
    """A ``.gguf`` file written by ``gguf.GGUFWriter`` (llama-style metadata, f32 tensors)."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-model")
    writer.add_context_length(128)
    for i, w in enumerate(_weights(size, 4, seed)):
        writer.add_tensor(f"blk.{i}.weight", w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def make_onnx(path: Path, size: int = 24 * MiB, seed: int = 3) -> Path:
    """An ``.onnx`` graph ``Y = X + W`` with a ``size``-byte float32 initializer ``W``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (weight,) = _weights(size, 1, seed)
    n = int(weight.shape[0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [n])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n])],
        initializer=[numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
