"""Checks of the grader settings (``eval.grader.*``), run by the pre-flight (redi.eval.checks) and by the grader
itself (:func:`validate_grader_config`): one rule, one spelling. Free of Math-Verify and torch.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import TYPE_CHECKING, Any

from redi.config.checks import run_check
from redi.grading.answers import EXTRACTION_MODES

if TYPE_CHECKING:
    from redi.config.checks import Checks

GOLD_FORMATS = ("answer", "text")
START_METHODS = ("forkserver", "spawn", "fork")  # how the grader's worker processes start


def check_grader(c: Checks) -> None:
    """The grader block: limits, extraction, gold format, workers and how they start (on this platform)."""
    c.number("timeout_s", low=0, low_open=True)
    c.number("workers", low=1, integer=True)
    c.choice("extraction", EXTRACTION_MODES)
    c.number("float_rounding", low=0, integer=True)
    c.number("numeric_precision", low=1, integer=True)
    c.choice("gold_format", GOLD_FORMATS)
    c.number("max_answer_chars", low=1, integer=True, optional=True, hint="null for no cap")
    c.choice("start_method", START_METHODS)
    if c.ok("start_method") and c.get("start_method") not in mp.get_all_start_methods():
        c.error("start_method", f"not available here ({', '.join(mp.get_all_start_methods())})")


def validate_grader_config(cfg: Any) -> None:
    """Raise ValueError naming every bad grader setting of ``cfg`` (a GraderConfig), as the pre-flight does."""
    run_check(check_grader, cfg, "eval.grader", ValueError)
