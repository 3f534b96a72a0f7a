"""One optimizer step's forward and backward: this rank's micro-batches of the global batch, and their statistics
(redi.loop.stats), summed on the device and read by name.

The loss of a step is the objective's own ``ObjectiveOutput.loss()`` over the global batch: every micro-batch
backpropagates the sum of its loss terms, and once the weights of all micro-batches on all ranks are summed the
gradients are divided by that sum. Accumulation and data parallelism therefore compute the gradient of one big
batch, and the tested ``.loss()`` is the trained loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from redi.config import TrainerConfig
from redi.data.tokenize import EncodedRows
from redi.infra.distributed import DistEnv, all_reduce_grads, all_reduce_sum, is_sharded
from redi.loop.microbatch import ForwardStats, resolve_layout, rows_logps
from redi.loop.plan import BatchPlan, split_micro_batches
from redi.loop.precision import compute_autocast
from redi.loop.stats import FIELDS, RowContext, pack, row_sums
from redi.objectives.base import ObjectiveSpec, SequenceLogps


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
    and one backward. With replicated weights (``trainer.distributed=ddp``) the gradients are summed over ranks
    here, once, after the last micro-batch; FSDP2 reduce-scatters them in its own backward hooks.
    """

    def __init__(self, inputs: LoopInputs, cfg: TrainerConfig, env: DistEnv) -> None:
        self.model, self.rows, self.objective = inputs.model, inputs.rows, inputs.objective
        self.hyperparameters, self.reference, self.pad_id = (
            inputs.hyperparameters,
            inputs.reference,
            inputs.pad_id,
        )
        self.env = env
        # the reference's (N, 2) log-probs and response lengths of (chosen, rejected), on the device once
        self.reference_lengths = None
        if self.reference is not None and self.objective.needs_reference:
            assert self.rows.rejected is not None
            self.reference = self.reference.to(env.device)
            self.reference_lengths = torch.tensor(
                [
                    [c.response_length, r.response_length]
                    for c, r in zip(self.rows.chosen, self.rows.rejected, strict=True)
                ],
                device=env.device,
            )
        else:
            self.reference = None
        self.parts = cfg.grad_accum_steps * env.world_size
        self.params = [p for p in getattr(self.model, "module", self.model).parameters() if p.requires_grad]
        # FSDP2 all-gathers the weights at every forward, so every rank must run the same number of forwards:
        # length-sorted forwards (their count depends on the rank's own rows) would leave the ranks waiting on
        # each other; a sharded model takes one forward per micro-batch
        forward = "plain" if is_sharded(self.model) else cfg.forward
        self.layout = resolve_layout(forward, self.model, cfg.forward_max_tokens)
        self.replicated = env.enabled and not is_sharded(self.model)
        self.precision = cfg.precision

    def __call__(self, global_indices: list[int]) -> torch.Tensor:
        """(NUM_STATS,) float64 sums of the global batch (StepStats' fields), on the device: read them once."""
        env = self.env
        sums = torch.zeros(len(FIELDS), dtype=torch.float64, device=env.device)
        counts, rows = ForwardStats(), 0
        for chunk in split_micro_batches(global_indices, self.parts)[env.rank :: env.world_size]:
            if not chunk:
                continue
            with compute_autocast(self.precision, env.device):
                policy = rows_logps(
                    self.model, self.rows, chunk, self.pad_id, self.layout, env.device, counts
                )
            reference = self._reference(chunk)
            out = self.objective(policy, reference, **self.hyperparameters)
            out.losses.sum().backward()
            sums += pack(row_sums(RowContext(policy, reference, out, self.hyperparameters)))
            rows += len(chunk)
        counted = torch.tensor(
            [rows, counts.tokens, counts.slots], dtype=torch.float64
        )  # on the host: no sync
        sums[[FIELDS.index(name) for name in ("rows", "tokens", "slots")]] += counted.to(env.device)
        sums = all_reduce_sum(sums, env)
        weight = sums[FIELDS.index("weight")]
        if self.replicated:
            all_reduce_grads(self.params, env)
        # FSDP averages the gradients over ranks (undo it); then divide by the global batch's weight
        ranks = env.world_size if is_sharded(self.model) else 1
        scale = torch.where(weight > 0, ranks / weight, torch.full_like(weight, float("nan")))
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, scale.to(grads[0].dtype))
        return sums

    def _reference(self, chunk: list[int]) -> SequenceLogps | None:
        """The cached reference log-probs of ``chunk``'s pairs, when the objective needs them."""
        if self.reference is None or self.reference_lengths is None:
            return None
        index = torch.tensor(chunk, device=self.env.device)
        ref, lengths = self.reference[index], self.reference_lengths[index]
        return SequenceLogps(ref[:, 0], lengths[:, 0], ref[:, 1], lengths[:, 1])
