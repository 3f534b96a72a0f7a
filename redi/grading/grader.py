"""Answer equivalence (Math-Verify) with a hard wall-clock limit per sample.

Math-Verify's own timeouts use ``signal.alarm`` (main thread only) and do not stop every hang (sympy on a tower of
powers ignores the alarm while inside C code). So :class:`Grader` runs ``parse``/``verify`` with their timeouts
disabled in a small pool of worker processes it owns (:mod:`redi.grading.verify_worker`); a worker still busy past
``timeout_s`` is killed and replaced, and its sample scores incorrect with ``timed_out=True``. A cheap fast path
(normalised string equality of the extracted answer and a gold, :mod:`redi.grading.answers`) runs in the calling
process first and skips the pool for the easy majority.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

from tqdm.auto import tqdm

from redi.config import GraderConfig
from redi.grading.answers import (  # callers import these from here too
    clean_gold,
    extract_answer,
    normalize,
)
from redi.grading.checks import validate_grader_config
from redi.grading.verify_worker import Settings, Worker

Gold = str | Sequence[str]  # one gold answer or several accepted forms (any match is correct)

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Verdict:
    """The grade of one sample: ``extracted`` is the answer string that was compared (None if none was found)."""

    correct: bool
    extracted: str | None
    timed_out: bool = False


def _shutdown(workers: list[Worker]) -> None:
    for worker in workers:
        worker.kill()
    workers.clear()


class Grader:
    """Grades predictions against golds with Math-Verify in worker processes, each sample under a wall-clock limit.

    Use as a context manager (``with Grader(cfg) as g: g.grade(preds, golds)``); the workers start on first use and
    are stopped on exit (and killed when the grader is garbage-collected or the interpreter exits).
    """

    def __init__(self, cfg: GraderConfig) -> None:
        validate_grader_config(cfg)
        self.cfg = cfg
        self.settings = Settings(
            extraction=cfg.extraction,
            gold_format=cfg.gold_format,
            float_rounding=cfg.float_rounding,
            numeric_precision=cfg.numeric_precision,
            strict=cfg.strict,
            allow_set_relation_comp=cfg.allow_set_relation_comp,
        )
        self._workers: list[Worker] = []
        self._ctx = mp.get_context(cfg.start_method)
        if cfg.start_method == "forkserver":
            self._ctx.set_forkserver_preload(["redi.grading.verify_worker", "math_verify"])
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        self.timeouts = 0  # samples that hit the wall-clock limit over this grader's life
        self.fast_path_hits = 0

    def __enter__(self) -> Grader:
        self._ensure_workers()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker process (idempotent)."""
        for worker in self._workers:
            worker.stop()
        self._workers.clear()

    def _ensure_workers(self) -> None:
        fresh = [Worker(self._ctx) for _ in range(self.cfg.workers - len(self._workers))]
        for worker in fresh:  # started together, awaited one by one
            worker.wait_ready()
        self._workers.extend(fresh)

    def _replace(self, worker: Worker) -> None:
        worker.kill()
        fresh = Worker(self._ctx)
        fresh.wait_ready()
        self._workers[self._workers.index(worker)] = fresh

    def grade(self, predictions: list[str], golds: list[Gold], progress: bool = False) -> list[Verdict]:
        """One verdict per prediction; ``golds[i]`` is a gold answer or a sequence of accepted golds."""
        if len(predictions) != len(golds):
            raise ValueError(f"grade: {len(predictions)} predictions but {len(golds)} golds")
        gold_sets = [self._gold_tuple(g, i) for i, g in enumerate(golds)]
        verdicts: list[Verdict | None] = [None] * len(predictions)
        todo: deque[tuple[int, str]] = deque()
        for i, (pred, gold) in enumerate(zip(predictions, gold_sets, strict=True)):
            if not isinstance(pred, str):
                raise TypeError(f"grade: prediction {i} is {type(pred).__name__}, expected str")
            extracted = extract_answer(pred, self.cfg.extraction)
            if extracted is None or not extracted.strip():
                verdicts[i] = Verdict(False, None)
            elif (
                self.cfg.extraction == "boxed"
                and self.cfg.max_answer_chars is not None
                and len(extracted) > self.cfg.max_answer_chars
            ):
                verdicts[i] = Verdict(False, extracted[: self.cfg.max_answer_chars])
            elif (fast := self._fast_verdict(extracted, gold)) is not None:
                self.fast_path_hits += 1
                verdicts[i] = Verdict(fast, extracted)
            else:
                todo.append((i, extracted))
        # disable=None: a bar only when stderr is a terminal
        bar = tqdm(total=len(predictions), desc="grading", disable=None if progress else True, leave=False)
        bar.update(len(predictions) - len(todo))
        self._run_pool(todo, gold_sets, verdicts, bar)
        bar.close()
        return [v if v is not None else Verdict(False, None) for v in verdicts]

    @staticmethod
    def _gold_tuple(gold: Gold, index: int) -> tuple[str, ...]:
        items = (gold,) if isinstance(gold, str) else tuple(gold)
        if not items or not all(isinstance(g, str) for g in items):
            raise TypeError(
                f"grade: gold {index} must be a string or a non-empty sequence of strings, got {gold!r}"
            )
        return items

    def _fast_verdict(self, extracted: str, golds: tuple[str, ...]) -> bool | None:
        """True on a normalised string match; False when prediction and every gold are distinct integer literals
        (two different integers are never equal); None when Math-Verify has to decide."""
        if not self.cfg.fast_path or self.cfg.gold_format != "answer" or self.cfg.extraction != "boxed":
            return None
        pred = normalize(extracted)
        if not pred:
            return None
        normalized = [normalize(clean_gold(g)) for g in golds]
        if any(pred == g for g in normalized):
            return True
        if _INTEGER.fullmatch(pred) and all(_INTEGER.fullmatch(g) for g in normalized):
            return False
        return None

    def _run_pool(
        self,
        todo: deque[tuple[int, str]],
        gold_sets: list[tuple[str, ...]],
        verdicts: list[Verdict | None],
        bar: tqdm,
    ) -> None:
        if not todo:
            return
        self._ensure_workers()
        extracted_of = dict(todo)
        golds_for = (
            (lambda i: tuple(clean_gold(g) for g in gold_sets[i]))
            if self.cfg.gold_format == "answer"
            else (lambda i: gold_sets[i])
        )
        while todo or any(w.task is not None for w in self._workers):
            for worker in self._workers:  # keep every worker busy with one sample
                if worker.task is None and todo:
                    index, text = todo.popleft()
                    worker.task, worker.deadline = index, time.monotonic() + self.cfg.timeout_s
                    try:
                        worker.conn.send((index, text, golds_for(index), self.settings))
                    except (BrokenPipeError, OSError):
                        verdicts[index] = Verdict(False, text)
                        self._replace(worker)
                        bar.update(1)
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                continue
            wait_s = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(wait([w.conn for w in busy], timeout=wait_s))
            for worker in busy:
                index = worker.task
                assert index is not None
                if worker.conn in ready:
                    try:
                        _, correct, extracted = worker.conn.recv()
                        verdicts[index] = Verdict(
                            correct, extracted if extracted is not None else extracted_of[index]
                        )
                        worker.task = None
                    except (EOFError, OSError):  # the worker died (e.g. out of memory): incorrect, replace it
                        verdicts[index] = Verdict(False, extracted_of[index])
                        self._replace(worker)
                    bar.update(1)
                elif time.monotonic() >= worker.deadline:
                    verdicts[index] = Verdict(False, extracted_of[index], timed_out=True)
                    self.timeouts += 1
                    self._replace(worker)
                    bar.update(1)
