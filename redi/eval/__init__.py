"""Evaluation: benchmarks, generation engines, metrics, and the entry points in ``redi.eval.evaluate``.

``redi.eval.evaluate`` stays the module (the function is ``redi.eval.evaluate.evaluate``), so nothing here
re-exports a name that would shadow a submodule.
"""

from redi.eval.benchmarks import Problem, load_benchmark
from redi.eval.engines import Generation, make_engine

__all__ = ["Generation", "Problem", "load_benchmark", "make_engine"]
