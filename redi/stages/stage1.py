"""Stage 1: the SFT model a preference run starts from (``model.init_from=stage1``), built once into the cache.

A preference run depends on it through the cache, never by calling itself: the entry point asks :func:`ensure`
for the stage-1 run directory, which trains it (with the training stage the entry point hands in, the SFT
objective and the ``stage1`` block's settings) only when no completed one is cached, under a file lock so sweep members that need it at the
same moment wait for one build. How the ``stage1`` block maps onto the training keys is written once, in
conf/objective/sft.yaml (an ``objective=sft`` run is trained the same way).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from redi.config import Config
from redi.config.checks import plain
from redi.data.build_key import source_fingerprint
from redi.infra.cache import building, cache_dir, content_key
from redi.infra.distributed import DistEnv, barrier, broadcast_flag
from redi.infra.progress import phase
from redi.infra.run_result import RunResult
from redi.infra.session import Session
from redi.infra.status import Status
from redi.objectives import ObjectiveSpec, get_objective, root_hyperparameters

log = logging.getLogger(__name__)
STAGE1_VERSION = 2  # 2: the synthetic teacher writes column work
SFT_YAML = Path(__file__).resolve().parents[2] / "conf" / "objective" / "sft.yaml"
# the training stage (redi.stages.training.run): (cfg, spec, hyperparameters, session, stage-1 dir) -> result
TrainStage = Callable[[DictConfig, ObjectiveSpec, dict[str, float], Session, Path | None], RunResult]


def stage1_config(cfg: DictConfig) -> DictConfig:
    """The SFT run that builds the stage-1 model for ``cfg``: same model and data, the ``stage1`` block's training."""
    sft = OmegaConf.load(SFT_YAML)  # objective=sft: the stage1 block's keys over lr and trainer.*
    with open_dict(sft):
        sft.pop("defaults", None)
    s1 = OmegaConf.merge(OmegaConf.structured(Config), plain(cfg))
    with open_dict(s1):
        s1.objective = {"name": "sft"}
        for key in root_hyperparameters():  # the preference run's alpha/beta/...: SFT uses none
            s1[key] = None
        s1.merge_with(sft)
        s1.seed = cfg.stage1.seed
        s1.mode = "train"
        s1.trainer.collapse.enabled = False
        s1.eval.every_n_steps = 0
        s1.eval.at_start = False
        s1.eval.at_end = False
        s1.logger.name = None
        s1.experiment.name = "stage1"
        s1.model.lora.r = 0  # stage 1 is full fine-tuning; LoRA is for the run that starts from it
        s1.data.self_generated.enabled = (
            False  # stage 1 learns from the teacher's D_SFT, never its own samples
        )
    return s1


def stage1_dir(cfg: DictConfig, world_size: int = 1) -> Path:
    """Where the stage-1 model for ``cfg`` lives: keyed by model, data, the stage-1 block and the code version.

    The batch enters as the global batch (micro batch x accumulation x processes): how it is split does not change
    the training (the loss is normalised over the global batch), so 2 processes x 16 reuse 1 process x 32.
    """
    model = plain(cfg.model)
    model.pop("init_from", None)
    model.pop("lora", None)  # stage 1 never trains an adapter (stage1_config): LoRA and full runs share it
    model.pop("liger", None)  # faster kernels for the same math: with or without, one stage-1 model
    data = plain(cfg.data)
    data.pop(
        "self_generated", None
    )  # how stage 2's data is sampled: the teacher's and the student's share stage 1
    synthetic = data.get("synthetic") or {}
    if synthetic.get("teacher", "rules") == "rules":
        synthetic.pop(
            "model_teacher", None
        )  # the rules teacher never reads it: its settings do not key stage 1
    else:
        synthetic.get("model_teacher", {}).pop(
            "traces", None
        )  # where the draw lies; its content is fingerprinted
    stage1 = plain(cfg.stage1)
    stage1.pop("threads", None)  # how many cores train it, not what it learns
    stage1["global_batch"] = stage1.pop("micro_batch_size") * stage1.pop("grad_accum_steps") * world_size
    key = content_key(
        STAGE1_VERSION,
        model,
        data,
        source_fingerprint(cfg.data),  # the teacher's code or the data file's hash: new traces, new stage 1
        stage1,
        cfg.trainer.precision,
    )
    return cache_dir(cfg) / "stage1" / key


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` (stage1.threads) inside the block, as before after it; None: unchanged."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ensure(cfg: DictConfig, env: DistEnv, train: TrainStage) -> Path:
    """The stage-1 run directory for ``cfg``, training it with ``train`` first if no completed one is cached."""
    directory = stage1_dir(cfg, env.world_size)
    with building(
        directory,
        f"the stage-1 model {directory.name}",
        complete=lambda d: Status(d).finished,
        in_place=True,  # a run directory: a killed stage 1 resumes from its checkpoint
        is_main=env.is_main,  # one lock holder per job; the other ranks follow rank 0's decision
        agree=lambda flag: broadcast_flag(flag, env),
    ) as work:
        if work is None:
            log.info("stage 1: reusing the cached SFT model in %s", directory)
        else:
            log.info("stage 1: training the SFT model in %s", directory)
            s1 = stage1_config(cfg)
            directory.mkdir(parents=True, exist_ok=True)
            if env.is_main:
                (directory / "config.yaml").write_text(OmegaConf.to_yaml(s1, resolve=True))
            spec = get_objective("sft")
            with (
                phase("stage 1"),
                torch_threads(OmegaConf.select(cfg, "stage1.threads", default=None)),
                Session.open(directory, env, objective=spec.name, hyperparameters={}) as session,
            ):
                result = train(s1, spec, {}, session, None)
            if result.state != "completed":
                raise RuntimeError(f"stage 1 ended {result.state!r} ({result.reason}); see {directory}")
    barrier(env)  # after the entry is published, so every rank finds it
    return directory


def run(cfg: DictConfig, session: Session, train: TrainStage) -> RunResult:
    """mode=stage1: build (or find) the cached stage-1 model this config's preference runs start from, and stop."""
    directory = ensure(cfg, session.env, train)
    step = Status(directory).data.get("step", 0)
    reason = f"stage-1 model in {directory / 'model'}"
    session.end("completed", step=step, stage1_dir=str(directory), reason=reason)
    return RunResult(session.run_dir, "completed", step, reason)
