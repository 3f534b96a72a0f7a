"""Nested training state (optimizer, scheduler, RNG, loop) as JSON + safetensors: no pickle on load.

``save_state(stem, obj)`` writes ``<stem>.json`` (the structure: dicts, lists, tuples, numbers, strings, None)
and ``<stem>.safetensors`` (every tensor and numpy array, referenced from the JSON by name). Loading parses the
two files as data, so a crafted checkpoint cannot run code (``torch.load(weights_only=False)`` could).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FORMAT = 1


def write_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors' save_file, with a failed write (a full disk) raised as the OSError it is, naming the file."""
    try:
        save_file(tensors, str(path))
    except OSError:
        raise
    except Exception as e:  # safetensors wraps I/O errors in its own SafetensorError
        if "I/O error" in str(e) or "No space" in str(e):
            raise OSError(f"{path}: {e}") from e
        raise


class StateFormatError(ValueError):
    """A state file that is not what :func:`save_state` writes; the message names the file and the place."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        name = f"t{len(tensors)}"
        wide = (
            obj.astype(np.int64) if obj.dtype.kind == "u" else obj
        )  # safetensors/torch lack most uint types
        tensors[name] = torch.from_numpy(np.ascontiguousarray(wide)).clone()
        return {"__ndarray__": name, "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in obj.items()}
        return {
            "__dict__": [
                [_encode(k, tensors, where), _encode(v, tensors, f"{where}.{k}")] for k, v in obj.items()
            ]
        }
    raise TypeError(f"state at {where or 'the top'}: {type(obj).__name__} cannot be stored without pickle")


def _decode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj or "__ndarray__" in obj:
        name = obj.get("__tensor__", obj.get("__ndarray__"))
        if name not in tensors:
            raise StateFormatError(f"{where}: tensor {name!r} is missing from the .safetensors file")
        if "__tensor__" in obj:
            return tensors[name]
        return tensors[name].numpy().astype(np.dtype(obj["dtype"]))
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj["__tuple__"]))
    if "__dict__" in obj:
        return {_decode(k, tensors, where): _decode(v, tensors, f"{where}.{k}") for k, v in obj["__dict__"]}
    return {k: _decode(v, tensors, f"{where}.{k}") for k, v in obj.items()}


def save_state(stem: Path, obj: Any) -> list[Path]:
    """Write ``obj`` to ``<stem>.json`` and ``<stem>.safetensors``; returns the two paths."""
    stem = Path(stem)
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(obj, tensors, "")
    json_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    write_tensors(tensors, tensor_path)
    json_path.write_text(json.dumps({"format": FORMAT, "state": structure}, allow_nan=True))
    return [json_path, tensor_path]


def load_state(stem: Path) -> Any:
    """Read what :func:`save_state` wrote; raises :class:`StateFormatError` naming the file when it is damaged."""
    stem = Path(stem)
    json_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StateFormatError(f"{json_path}: unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "state" not in doc:
        raise StateFormatError(f"{json_path}: not a redi state file (format {FORMAT})")
    try:
        tensors = load_file(str(tensor_path))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types; name the file
        raise StateFormatError(f"{tensor_path}: unreadable ({type(e).__name__}: {e})") from e
    return _decode(doc["state"], tensors, json_path.name)


# modules whose classes torch.distributed.checkpoint's metadata file may name (it is a pickle written by torch)
_DCP_MODULES = ("torch.distributed.checkpoint.", "torch.distributed._shard.", "collections", "torch._utils")
_DCP_TORCH_NAMES = {"Size", "device", "dtype", "float32", "float16", "bfloat16", "float64", "int64", "int32",
                    "int8", "uint8", "bool", "layout", "strided", "memory_format", "contiguous_format"}  # fmt: skip
_DCP_BUILTINS = {"set", "frozenset", "slice", "complex"}
# a layout by name (as torch's weights_only admits) and the checkpoint's path in its storage metadata
_DCP_OTHER = {("torch.serialization", "_get_layout"), ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath")}


class _MetadataUnpickler(pickle.Unpickler):
    """Admits only the data classes DCP metadata is made of; anything else (os.system, eval, ...) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = (
            module.startswith(_DCP_MODULES)
            or (module == "torch" and name in _DCP_TORCH_NAMES)
            or (module == "builtins" and name in _DCP_BUILTINS)
            or (module, name) in _DCP_OTHER
        )
        if not allowed:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return super().find_class(module, name)


def check_dcp_metadata(path: Path) -> None:
    """Refuse a torch.distributed.checkpoint ``.metadata`` pickle that names anything but DCP's data classes.

    DCP itself reads that file with ``pickle.load``; checking it first with an allow-list keeps foreign code out.
    """
    try:
        with open(path, "rb") as f:
            _MetadataUnpickler(f).load()
    except Exception as e:  # noqa: BLE001
        raise StateFormatError(f"{path}: refused ({type(e).__name__}: {e})") from e
