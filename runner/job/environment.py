"""Environment columns, read from package metadata so nothing heavy is imported."""
from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


@lru_cache(maxsize=1)
def environment() -> dict:
    return {
        "torch_version": _version("torch"),
        "onnx_version": _version("onnx"),
        "onnxruntime_version": _version("onnxruntime"),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }
