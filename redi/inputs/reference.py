"""Reference log-probs for DPO: computed once with the starting (stage-1) model, stored on disk, reused.

The key is what determines them: the reference weights, the token ids of every pair, and the code version. All
members of a sweep over beta or lr share one file; the reference model is never held while the policy trains
(the starting model computes them, then becomes the policy).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import torch

from redi.data.tokenize import EncodedRows
from redi.infra.cache import building_file, content_key, file_digest
from redi.infra.distributed import DistEnv, all_reduce_sum, barrier, broadcast_flag
from redi.infra.progress import track
from redi.loop.microbatch import resolve_layout, rows_logps
from redi.loop.precision import compute_autocast
from redi.model.source import ModelSource

log = logging.getLogger(__name__)
VERSION = 1


def weights_fingerprint(source: ModelSource) -> str:
    if source.kind == "hub":
        return f"hub:{source.location}"
    files = list(Path(source.location).glob("*.safetensors")) or list(Path(source.location).glob("*.bin"))
    return file_digest(files)


def rows_fingerprint(rows: EncodedRows) -> str:
    h = hashlib.sha256()
    for seqs in (rows.chosen, rows.rejected or []):
        for s in seqs:
            h.update(len(s.ids).to_bytes(4, "little"))
            h.update(s.response_start.to_bytes(4, "little"))
            h.update(torch.tensor(s.ids, dtype=torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def compute_reference_logps(
    model: torch.nn.Module,
    rows: EncodedRows,
    pad_id: int,
    batch_size: int,
    env: DistEnv,
    precision: str = "fp32",
) -> torch.Tensor:
    """(N, 2) summed log-probs of (chosen, rejected) under ``model``; ranks split the rows and sum the shards.

    ``precision``: the training's (``trainer.precision``), so the reference is computed as the policy is.
    """
    from redi.model.lora import adapter_disabled  # a LoRA policy's reference is its base, the adapter off

    was_training = model.training
    model.eval()
    out = torch.zeros(len(rows), 2, dtype=torch.float64)
    # sorted by length, so a batch holds similar lengths; each batch then runs the loop's length-sorted forwards
    group = rows.group_lengths
    mine = sorted(range(env.rank, len(rows), env.world_size), key=lambda i: (group[i], i))
    layout = resolve_layout("auto", model)
    starts = range(0, len(mine), batch_size)
    for start in track(starts, len(starts), "reference log-probs", unit="batches", enabled=env.is_main):
        idx = mine[start : start + batch_size]
        with adapter_disabled(model), compute_autocast(precision, env.device):
            logps = rows_logps(model, rows, idx, pad_id, layout, env.device)
        out[idx, 0] = logps.chosen_logps.double().cpu()
        out[idx, 1] = logps.rejected_logps.double().cpu()
    model.train(was_training)
    return all_reduce_sum(out, env).float()


def cached_reference_logps(
    model: torch.nn.Module,
    source: ModelSource,
    rows: EncodedRows,
    pad_id: int,
    batch_size: int,
    cache_dir: Path,
    env: DistEnv,
    precision: str = "fp32",
) -> torch.Tensor:
    """Load the reference log-probs for (weights, rows, precision) from the cache, computing and storing them once.

    fp32 entries keep the key they had before the precision entered it.
    """
    parts = (VERSION, weights_fingerprint(source), rows_fingerprint(rows))
    key = content_key(*parts, *(() if precision == "fp32" else (precision,)))
    path = Path(cache_dir) / "reference_logps" / f"{key}.pt"
    with building_file(
        path,
        f"reference log-probs {key}",
        is_main=env.is_main,  # one lock holder per job; the other ranks follow rank 0's decision
        agree=lambda flag: broadcast_flag(flag, env),
    ) as tmp:
        if tmp is None:
            if env.is_main:
                log.info("reference log-probs: reused %s (%d pairs)", path, len(rows))
        else:
            t0 = time.perf_counter()
            ref = compute_reference_logps(model, rows, pad_id, batch_size, env, precision)
            if env.is_main:
                torch.save(ref, tmp)
                log.info(
                    "reference log-probs: computed for %d pairs in %.1fs -> %s",
                    len(rows),
                    time.perf_counter() - t0,
                    path,
                )
    barrier(env)  # after the entry is published, so every rank finds it
    ref = torch.load(path)
    if ref.shape != (len(rows), 2):
        raise RuntimeError(f"{path}: holds {tuple(ref.shape)} log-probs for {len(rows)} pairs; delete it")
    return ref
