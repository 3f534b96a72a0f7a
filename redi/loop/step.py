"""One optimizer step's forward and backward: this rank's micro-batches of the global batch, named statistics.

The loss of a step is the objective's own ``ObjectiveOutput.loss()`` over the global batch: every micro-batch
backpropagates the sum of its loss terms, and once the weights of all micro-batches on all ranks are summed the
gradients are divided by that sum. Accumulation and data parallelism therefore compute the gradient of one big
batch, and the tested ``.loss()`` is the trained loss.
"""

from __future__ import annotations

import contextlib
from dataclasses import astuple, dataclass

import torch

from redi.config import TrainerConfig
from redi.data.tokenize import EncodedRows, collate_rows
from redi.infra.distributed import DistEnv, all_reduce_sum
from redi.loop.logprobs import policy_logps
from redi.loop.plan import BatchPlan, split_micro_batches
from redi.objectives.base import ObjectiveOutput, ObjectiveSpec, SequenceLogps


@dataclass
class StepStats:
    """Sums over one step's rows: this rank's, or (after ``all_reduce``) the global batch's."""

    loss_terms: float = 0.0  # sum of the objective's loss terms
    weight: float = 0.0  # sum of the objective's weights: the step's loss is loss_terms / weight
    logps_chosen: float = 0.0  # sum over rows of the mean per-token log-prob of y_w
    logps_rejected: float = 0.0  # ... of y_l (pairs only)
    margin: float = 0.0  # sum of reward_w - reward_l
    correct: float = 0.0  # rows with reward_w > reward_l
    rows: float = 0.0
    tokens: float = 0.0  # non-padding tokens through the model

    @property
    def loss(self) -> float:
        return self.loss_terms / self.weight if self.weight else float("nan")

    def add(self, policy: SequenceLogps, out: ObjectiveOutput, tokens: int) -> None:
        self.loss_terms += float(out.losses.sum())
        self.weight += float(out.weights.sum())
        self.logps_chosen += float(policy.chosen_mean.sum())
        if policy.rejected_logps is not None:
            self.logps_rejected += float(policy.rejected_mean.sum())
        if out.rewards_chosen is not None and out.rewards_rejected is not None:
            self.margin += float((out.rewards_chosen - out.rewards_rejected).sum())
            self.correct += float((out.rewards_chosen > out.rewards_rejected).float().sum())
        self.rows += len(out.losses)
        self.tokens += tokens

    def all_reduce(self, env: DistEnv) -> StepStats:
        return StepStats(*all_reduce_sum(torch.tensor(astuple(self), dtype=torch.float64), env).tolist())

    def metrics(self, pairs: bool) -> dict[str, float]:
        """The step's train/* metrics (per row means; log-probs per token)."""
        n = max(self.rows, 1.0)
        metrics = {"train/loss": self.loss, "train/logps_chosen": self.logps_chosen / n}
        if pairs:
            metrics["train/logps_rejected"] = self.logps_rejected / n
            metrics["train/margin"] = self.margin / n
            metrics["train/reward_accuracy"] = self.correct / n
        return metrics


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
    """Forward and backward of one global batch on this rank; leaves the step's gradient in ``.grad``."""

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
        self.autocast = (
            torch.autocast(device_type=env.device.type, dtype=torch.bfloat16)
            if cfg.precision == "bf16"
            else contextlib.nullcontext()
        )

    def __call__(self, global_indices: list[int]) -> StepStats:
        env, stats = self.env, StepStats()
        chunks = split_micro_batches(global_indices, self.parts)[env.rank :: env.world_size]
        for j, chunk in enumerate(chunks):
            if not chunk:
                continue
            batch = collate_rows(self.rows, chunk, self.pad_id).to(env.device)
            last = j == len(chunks) - 1
            sync = (
                self.model.no_sync()
                if hasattr(self.model, "no_sync") and not last
                else contextlib.nullcontext()
            )
            with sync:
                with self.autocast:
                    policy = policy_logps(self.model, batch)
                out = self.objective(policy, self._reference(chunk), **self.hyperparameters)
                out.losses.sum().backward()
            with torch.no_grad():
                stats.add(policy, out, batch.num_tokens)
        stats = stats.all_reduce(env)
        # DDP and FSDP average the gradients over ranks: undo that, then divide by the global batch's weight
        scale = env.world_size / stats.weight if stats.weight else float("nan")
        for p in self.params:
            if p.grad is not None:
                p.grad.mul_(scale)
        return stats

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
