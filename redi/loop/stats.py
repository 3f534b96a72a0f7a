"""The step's statistics, named end to end: each is a field of :class:`StepStats` with its metric key.

A per-row statistic is one field made with :func:`row_stat` (a function of a micro-batch's :class:`RowContext`
giving one value per row, and the key it is logged as); the step sums it over its rows on the device and
:meth:`StepStats.from_sums` reads it back by name, so a field added anywhere cannot shift another's value.

Names follow TRL where the meaning is TRL's: ``train/logps_chosen`` is the summed log-prob of the chosen response
(TRL's logps/chosen), ``train/rewards_chosen`` TRL's rewards/chosen; redi's per-token means are
``train/logps_chosen_per_token`` / ``train/logps_rejected_per_token`` (the collapse rule reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from redi.objectives.base import ObjectiveOutput, SequenceLogps


@dataclass(frozen=True)
class RowContext:
    """What a per-row statistic is computed from: one micro-batch's log-probs, its reference's, the objective's
    output and its hyperparameters (shapes as in redi.objectives.base: (B,) per row)."""

    policy: SequenceLogps
    reference: SequenceLogps | None
    out: ObjectiveOutput
    hyperparameters: dict[str, float]


RowFn = Callable[[RowContext], "torch.Tensor | None"]  # (B,) values of one micro-batch's rows, or None: none


def _rewards(chosen: bool) -> RowFn:
    """TRL's rewards/chosen|rejected: beta * (logp - ref) for objectives with a reference (summed log-probs, as the
    objective is given them); a reference-free objective's own implicit rewards (SimPO: beta * per-token mean
    log-prob, as TRL's CPO/SimPO; REDI: the per-token mean log-prob); None for SFT."""

    def rows(r: RowContext) -> torch.Tensor | None:
        if r.reference is not None and "beta" in r.hyperparameters:
            policy, ref = (r.policy.chosen_logps, r.reference.chosen_logps) if chosen else (
                r.policy.rejected_logps, r.reference.rejected_logps)  # fmt: skip
            assert policy is not None and ref is not None
            return r.hyperparameters["beta"] * (policy - ref)
        return r.out.rewards_chosen if chosen else r.out.rewards_rejected

    return rows


def _margin(r: RowContext) -> torch.Tensor | None:
    if r.out.rewards_chosen is None or r.out.rewards_rejected is None:
        return None
    return r.out.rewards_chosen - r.out.rewards_rejected


def _correct(r: RowContext) -> torch.Tensor | None:
    margin = _margin(r)
    return None if margin is None else (margin > 0).to(margin.dtype)


def row_stat(key: str | None, of: RowFn, *, pairs: bool = False, per_row: bool = True) -> Any:
    """A StepStats field summed over the step's rows: ``of`` gives each row's value; logged as ``key`` (a mean
    over rows when ``per_row``; only for pair objectives when ``pairs``; not logged when None)."""
    return field(default=0.0, metadata={"of": of, "key": key, "pairs": pairs, "per_row": per_row})


def count(key: str | None = None) -> Any:
    """A StepStats field the step counts itself (rows, tokens, slots), logged as ``key`` (a total) when given."""
    return field(default=0.0, metadata={"key": key, "pairs": False, "per_row": False})


@dataclass
class StepStats:
    """Sums over one step's rows: this rank's, or (after the all-reduce) the global batch's.

    A field is a statistic and its metric key: :func:`row_stat` (from each row of a micro-batch) or :func:`count`.
    The step packs and :meth:`from_sums` unpacks them by name, so adding, removing or moving a field never shifts
    another's value. Log-probs: ``logps_*`` are summed over the response tokens (TRL's logps/chosen|rejected),
    ``logps_*_per_token`` their mean per token (what redi logged as logps_* before; the collapse rule reads it).
    """

    loss_terms: float = row_stat(None, lambda r: r.out.losses)  # the step's loss is loss_terms / weight
    weight: float = row_stat(None, lambda r: r.out.weights)
    logps_chosen: float = row_stat("train/logps_chosen", lambda r: r.policy.chosen_logps)
    logps_rejected: float = row_stat("train/logps_rejected", lambda r: r.policy.rejected_logps, pairs=True)
    logps_chosen_per_token: float = row_stat("train/logps_chosen_per_token", lambda r: r.policy.chosen_mean)
    logps_rejected_per_token: float = row_stat(
        "train/logps_rejected_per_token",
        lambda r: r.policy.rejected_mean if r.policy.rejected_logps is not None else None,
        pairs=True,
    )
    rewards_chosen: float = row_stat("train/rewards_chosen", _rewards(chosen=True), pairs=True)
    rewards_rejected: float = row_stat("train/rewards_rejected", _rewards(chosen=False), pairs=True)
    margin: float = row_stat("train/margin", _margin, pairs=True)  # the objective's reward_w - reward_l
    correct: float = row_stat("train/reward_accuracy", _correct, pairs=True)  # rows with reward_w > reward_l
    rows: float = count()
    tokens: float = count("train/tokens")  # non-padding tokens through the model
    slots: float = count()  # token slots the forwards computed (padding included)

    @classmethod
    def from_sums(cls, values: Sequence[float]) -> StepStats:
        """The stats from the step's (NUM_STATS,) sums, read by field name (the order of :data:`FIELDS`)."""
        return cls(**dict(zip(FIELDS, values[: len(FIELDS)], strict=True)))

    @property
    def loss(self) -> float:
        return self.loss_terms / self.weight if self.weight else float("nan")

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.slots if self.slots else 0.0

    def metrics(self, pairs: bool) -> dict[str, float]:
        """The step's train/* metrics: each field's key (per-row means, or totals), the loss and padding."""
        n = max(self.rows, 1.0)
        metrics = {"train/loss": self.loss}
        for f in fields(self):
            key = f.metadata["key"]
            if key is not None and (pairs or not f.metadata["pairs"]):
                value = getattr(self, f.name)
                metrics[key] = value / n if f.metadata["per_row"] else value
        metrics["train/padding_frac"] = self.padding_fraction
        return metrics


FIELDS = tuple(f.name for f in fields(StepStats))
ROW_STATS = tuple(f for f in fields(StepStats) if "of" in f.metadata)
NUM_STATS = len(FIELDS)


def row_sums(context: RowContext) -> dict[str, torch.Tensor]:
    """Each row statistic of one micro-batch, summed over its rows: name -> () float64 on the device (no sync)."""
    zero = context.out.losses.new_zeros((), dtype=torch.float64)
    sums = {}
    for f in ROW_STATS:
        values = f.metadata["of"](context)
        sums[f.name] = zero if values is None else values.detach().to(torch.float64).sum()
    return sums


def pack(sums: dict[str, torch.Tensor]) -> torch.Tensor:
    """(NUM_STATS,) the named sums in the order of :data:`FIELDS` (a missing one is 0)."""
    any_value = next(iter(sums.values()))
    return torch.stack([sums.get(name, any_value.new_zeros(())) for name in FIELDS])
