"""Evaluation: benchmarks, metrics, the evaluator factory, and the entry points in ``redi.eval.evaluate``.

``redi.eval.evaluate`` stays the module (the function is ``redi.eval.evaluate.evaluate``), so nothing here
re-exports a name that would shadow a submodule. The re-exports load on first use, so the config checks
(``redi.eval.checks``) import without torch or Math-Verify. Generation engines are in redi.model.engines,
grading in redi.grading.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Problem": "redi.eval.benchmarks",
    "load_benchmark": "redi.eval.benchmarks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'redi.eval' has no attribute {name!r}")
