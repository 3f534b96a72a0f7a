"""One optimizer step's forward and backward: this rank's micro-batches of the global batch, named statistics.

The loss of a step is the objective's own ``ObjectiveOutput.loss()`` over the global batch: every micro-batch
backpropagates the sum of its loss terms, and once the weights of all micro-batches on all ranks are summed the
gradients are divided by that sum. Accumulation and data parallelism therefore compute the gradient of one big
batch, and the tested ``.loss()`` is the trained loss.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch

from redi.config import TrainerConfig
from redi.data.tokenize import EncodedRows
from redi.infra.distributed import DistEnv, all_reduce_grads, all_reduce_sum, is_sharded
from redi.loop.microbatch import ForwardStats, resolve_layout, rows_logps
from redi.loop.plan import BatchPlan, split_micro_batches
from redi.loop.precision import compute_autocast
from redi.objectives.base import ObjectiveOutput, ObjectiveSpec, SequenceLogps


@dataclass
class StepStats:
    """Sums over one step's rows: this rank's, or (after the all-reduce) the global batch's."""

    loss_terms: float = 0.0  # sum of the objective's loss terms
    weight: float = 0.0  # sum of the objective's weights: the step's loss is loss_terms / weight
    logps_chosen: float = 0.0  # sum over rows of the mean per-token log-prob of y_w
    logps_rejected: float = 0.0  # ... of y_l (pairs only)
    margin: float = 0.0  # sum of reward_w - reward_l
    correct: float = 0.0  # rows with reward_w > reward_l
    rows: float = 0.0
    tokens: float = 0.0  # non-padding tokens through the model
    slots: float = 0.0  # token slots the forwards computed (padding included)

    @property
    def loss(self) -> float:
        return self.loss_terms / self.weight if self.weight else float("nan")

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.slots if self.slots else 0.0

    def metrics(self, pairs: bool) -> dict[str, float]:
        """The step's train/* metrics (per row means; log-probs per token)."""
        n = max(self.rows, 1.0)
        metrics = {"train/loss": self.loss, "train/logps_chosen": self.logps_chosen / n}
        if pairs:
            metrics["train/logps_rejected"] = self.logps_rejected / n
            metrics["train/margin"] = self.margin / n
            metrics["train/reward_accuracy"] = self.correct / n
        metrics["train/tokens"] = self.tokens
        metrics["train/padding_frac"] = self.padding_fraction
        return metrics


NUM_STATS = len(fields(StepStats))
_OBJECTIVE_SUMS = 6  # the first six fields come from the objective's output, the last three are counts


def objective_sums(policy: SequenceLogps, out: ObjectiveOutput) -> torch.Tensor:
    """(6,) float64 on the device: loss terms, weights, mean log-probs, margin and correct rows (no host sync)."""
    zero = out.losses.new_zeros(())
    rejected = policy.rejected_mean.sum() if policy.rejected_logps is not None else zero
    if out.rewards_chosen is not None and out.rewards_rejected is not None:
        margin = (out.rewards_chosen - out.rewards_rejected).sum()
        correct = (out.rewards_chosen > out.rewards_rejected).sum()
    else:
        margin = correct = zero
    parts = (out.losses.sum(), out.weights.sum(), policy.chosen_mean.sum(), rejected, margin, correct)
    return torch.stack([t.detach().to(torch.float64) for t in parts])


@dataclass
class LoopInputs:
    """What the loop trains: the (wrapped) model on the plan's rows with the objective and its hyperparameters."""

    model: torch.nn.Module  # possibly DDP- or FSDP-wrapped
    rows: EncodedRows
    plan: BatchPlan
    objective: ObjectiveSpec
    hyperparameters: dict[str, float]
    reference: torch.Tensor | None  # (N, 2) summed reference log-probs of (chosen, rejected), or None
    pad_id: int
    lr: float
    seed: int


class Step:
    """Forward and backward of one global batch on this rank; leaves the step's gradient in ``.grad``.

    Each micro-batch goes through the forwards of ``trainer.forward`` (redi.loop.microbatch), one objective call
    and one backward. Under DDP every micro-batch runs in ``no_sync`` (a micro-batch may take several forwards
    before its one backward, which DDP's reducer does not allow) and the gradients are summed over ranks here.
    """

    def __init__(self, inputs: LoopInputs, cfg: TrainerConfig, env: DistEnv) -> None:
        self.model, self.rows, self.objective = inputs.model, inputs.rows, inputs.objective
        self.hyperparameters, self.reference, self.pad_id = (
            inputs.hyperparameters,
            inputs.reference,
            inputs.pad_id,
        )
        self.env = env
        self.parts = cfg.grad_accum_steps * env.world_size
        self.params = [p for p in getattr(self.model, "module", self.model).parameters() if p.requires_grad]
        # FSDP2 all-gathers the weights at every forward, so every rank must run the same number of forwards:
        # length-sorted forwards (their count depends on the rank's own rows) would leave the ranks waiting on
        # each other; a sharded model takes one forward per micro-batch
        forward = "plain" if is_sharded(self.model) else cfg.forward
        self.layout = resolve_layout(forward, self.model, cfg.forward_max_tokens)
        self.ddp = hasattr(self.model, "no_sync")
        self.precision = cfg.precision

    def __call__(self, global_indices: list[int]) -> torch.Tensor:
        """(NUM_STATS,) float64 sums of the global batch (StepStats' fields), on the device: read them once."""
        env = self.env
        sums = torch.zeros(_OBJECTIVE_SUMS, dtype=torch.float64, device=env.device)
        counts, rows = ForwardStats(), 0
        for chunk in split_micro_batches(global_indices, self.parts)[env.rank :: env.world_size]:
            if not chunk:
                continue
            with self.model.no_sync() if self.ddp else contextlib.nullcontext():
                with compute_autocast(self.precision, env.device):
                    policy = rows_logps(
                        self.model, self.rows, chunk, self.pad_id, self.layout, env.device, counts
                    )
                out = self.objective(policy, self._reference(chunk), **self.hyperparameters)
                out.losses.sum().backward()
            sums += objective_sums(policy, out)
            rows += len(chunk)
        host = torch.tensor([rows, counts.tokens, counts.slots], dtype=torch.float64)
        sums = all_reduce_sum(torch.cat([sums, host.to(env.device)]), env)
        if self.ddp:
            all_reduce_grads(self.params, env)
        # FSDP averages the gradients over ranks (undo it); then divide by the global batch's weight
        ranks = 1 if self.ddp else env.world_size
        scale = torch.where(sums[1] > 0, ranks / sums[1], torch.full_like(sums[1], float("nan")))
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, scale.to(grads[0].dtype))
        return sums

    def _reference(self, chunk: list[int]) -> SequenceLogps | None:
        """The cached reference log-probs of ``chunk``'s pairs, when the objective needs them."""
        if self.reference is None or not self.objective.needs_reference:
            return None
        ref = self.reference[chunk].to(self.env.device)
        lengths = torch.tensor(
            [[self.rows.chosen[i].response_length, self.rows.rejected[i].response_length] for i in chunk],
            device=self.env.device,
        )
        return SequenceLogps(ref[:, 0], lengths[:, 0], ref[:, 1], lengths[:, 1])
