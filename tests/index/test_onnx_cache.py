"""The ONNX export cache follows the model's weights, not only its name and configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index import onnx_embedder
from index.onnx_embedder import ensure_onnx_model, weights_stamp


def model_folder(root: Path) -> Path:
    folder = root / "all-MiniLM-L6-v2"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights v1")
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    return folder


def test_the_stamp_changes_with_the_weights_and_the_pooling(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    first = weights_stamp(folder)
    assert weights_stamp(folder) == first  # stable
    (folder / "model.safetensors").write_bytes(b"weights v2, fine-tuned")
    second = weights_stamp(folder)
    assert second != first
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert weights_stamp(folder) != second


def test_a_model_updated_in_place_is_exported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[bytes] = []

    def export(folder: Path, target: Path) -> None:
        exports.append((folder / "model.safetensors").read_bytes())
        target.write_bytes(exports[-1])

    monkeypatch.setattr(onnx_embedder, "export_onnx", export)
    folder, cache = model_folder(tmp_path), tmp_path / "cache"
    first = ensure_onnx_model(folder, "all-MiniLM-L6-v2@abc", "onnx", cache)
    assert ensure_onnx_model(folder, "all-MiniLM-L6-v2@abc", "onnx", cache) == first
    assert len(exports) == 1  # reused while nothing changed
    weights = folder / "model.safetensors"
    weights.write_bytes(b"weights v2")  # same id: the id does not hash the weights
    os.utime(weights, ns=(1, 1))
    second = ensure_onnx_model(folder, "all-MiniLM-L6-v2@abc", "onnx", cache)
    assert second != first and second.read_bytes() == b"weights v2"
