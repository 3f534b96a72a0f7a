"""torch.distributed set-up from torchrun's or SLURM's environment (via submitit), and a clean exit.

Under SLURM (``hydra/launcher=slurm`` with ``hydra.launcher.nodes`` x ``tasks_per_node`` tasks, one per GPU) every
task is one rank: submitit's TorchDistributedEnvironment gives RANK = SLURM_PROCID, LOCAL_RANK = SLURM_LOCALID
(the rank on its node, which picks its GPU), WORLD_SIZE = SLURM_NTASKS and the rendezvous MASTER_ADDR = the first
host of SLURM_JOB_NODELIST (where rank 0 runs) with a MASTER_PORT derived from the job id (so a requeued job meets
at the same address). The same variables set by hand or by torchrun are used as they are.

One process (no RANK/WORLD_SIZE, no multi-task SLURM step) runs without a process group. Data parallelism is
DDP, or FSDP2 (``fully_shard``) for models that do not fit one device; the helpers here that take a model work
for both (and for an unwrapped model in one process). The distributed, length-grouped sampler is the training
loop's plan: every rank computes the same global batch from (seed, epoch) and takes its own micro-batches of it.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

_process_group_used = False  # set once this process initialised a process group (see exit_process)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _from_slurm() -> str | None:
    """Fill torchrun-style variables from a SLURM step with several tasks (submitit's distributed environment).

    Returns the layout for the log ("2 nodes x 1 task (node[1-2]), rendezvous node1:40123"), None when there is
    nothing to fill (one task, or the variables are already set).
    """
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return None
    import submitit

    dist_env = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    nodes = int(os.environ.get("SLURM_JOB_NUM_NODES", os.environ.get("SLURM_NNODES", "1")))
    per_node = dist_env.local_world_size
    return (
        f"{nodes} node{'s' if nodes != 1 else ''} x {per_node} task{'s' if per_node != 1 else ''} "
        f"({os.environ.get('SLURM_JOB_NODELIST', '?')}), rendezvous {dist_env.master_addr}:{dist_env.master_port}"
    )


def _exit_without_teardown_at_interpreter_exit() -> None:
    """Under SLURM (submitit's task, not redi.run's entry point, ends the process): skip interpreter teardown.

    After a gloo process group, tasks on two nodes of the local test cluster finished their work, wrote
    submitit's result and then hung in interpreter teardown until SLURM's time-limit signal killed them (and
    on one node they abort 1 run in 5, as under torchrun). An atexit handler runs after submitit has written
    its result pickle: it flushes and calls ``os._exit`` with 1 when an exception escaped (submitit re-raises
    the task's error), else 0.
    """
    import atexit

    failed = []
    previous_hook = sys.excepthook

    def hook(*args: Any) -> None:
        failed.append(True)
        previous_hook(*args)

    def finish() -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1 if failed else 0)

    sys.excepthook = hook
    atexit.register(finish)


def pick_device(requested: str, local_rank: int) -> torch.device:
    """The CPU, or GPU ``local_rank`` of this node (one process per GPU)."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(f"trainer.device={requested!r} but CUDA is not available on this machine")
    visible = torch.cuda.device_count()
    if local_rank >= visible:
        raise RuntimeError(
            f"process {local_rank} of this node sees {visible} GPU(s): run one process per GPU "
            "(hydra.launcher.tasks_per_node = hydra.launcher.gpus_per_node, or torchrun --nproc_per_node = GPUs)"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def setup(requested_device: str) -> DistEnv:
    """Initialise the process group when launched with several processes; NCCL on GPUs, gloo on CPU."""
    layout = _from_slurm()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world > 1 and not dist.is_initialized():
        global _process_group_used
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
        _process_group_used = True
        if layout is not None:
            _exit_without_teardown_at_interpreter_exit()
        if rank == 0:
            logging.getLogger(__name__).info(
                "torch.distributed: %d processes, backend %s, launched by %s",
                world,
                backend,
                f"SLURM: {layout}"
                if layout
                else "torchrun"
                if "TORCHELASTIC_RUN_ID" in os.environ
                else "env",
            )
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=device)


def all_reduce_sum(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a tensor over ranks (identity in one process)."""
    if env.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_reduce_grads(params: list[torch.nn.Parameter], env: DistEnv, bucket_elements: int = 1 << 25) -> None:
    """Sum the parameters' gradients over ranks in flat buckets (what DDP does, done after the last backward).

    A parameter without a gradient contributes zeros (every rank reduces the same buckets); its ``.grad`` is set.
    Identity in one process.
    """
    if not env.enabled:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    bucket: list[torch.Tensor] = []
    size = 0
    for i, p in enumerate(params):
        bucket.append(p.grad)
        size += p.grad.numel()
        if size >= bucket_elements or i == len(params) - 1:
            flat = torch.cat([g.reshape(-1) for g in bucket])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            offset = 0
            for g in bucket:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
            bucket, size = [], 0


def broadcast_module(model: torch.nn.Module, env: DistEnv) -> None:
    """Make every rank's parameters and buffers rank 0's (what DDP's constructor does); nothing in one process."""
    if not env.enabled:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def teardown(env: DistEnv) -> None:
    """Destroy the process group; gloo workers on CPU sometimes abort at interpreter exit otherwise."""
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


_PEER = re.compile(r"peer \[([^\]]+)\]:\d+|\[([^\]]+)\]:\d+[^\n]*(?:reset by peer|closed by peer)")


def describe_failure(exc: BaseException, env: DistEnv) -> str:
    """The reason a run records for ``exc``: for a collective that lost a peer (gloo names the peer's address),
    which node and ranks went away, then the error itself; otherwise ``Type: message``.

    Shapes of gloo's message: "Connection closed by peer [127.0.0.3]:41234", "Read error [10.0.0.4]:5321:
    Connection reset by peer". The node is the address's host name (SLURM node names resolve on the nodes). The
    address is the connection's far end, which is not always a node of the job: a connection the peer opened
    comes from the address its kernel chose (127.0.0.1 between loopback nodes). With two ranks the lost one is
    the other rank whatever the address says.
    """
    text = f"{type(exc).__name__}: {exc}"
    found = _PEER.search(str(exc)) if env.enabled else None
    if found is None:
        return text
    address = found.group(1) or found.group(2)
    try:
        node = socket.gethostbyaddr(address)[0].split(".")[0]
    except OSError:
        node = address
    ranks = _ranks_on(node)
    if ranks:
        where = f"rank{'s' if len(ranks) != 1 else ''} {', '.join(map(str, ranks))} on {node} ({address})"
    elif env.world_size == 2:
        other = 1 - env.rank
        host = _node_of(other)
        where = f"rank {other}{f' on {host}' if host else ''} (the only other rank; its connection came from {address})"
    else:
        where = f"{node} ({address})"
    return (
        f"lost {where} during a collective: its process or node failed "
        f"(this is rank {env.rank} of {env.world_size}); {text}"
    )


def _slurm_layout() -> tuple[list[str], int] | None:
    """(the job's node names in order, tasks per node) of a SLURM job with equal tasks per node; None outside."""
    nodelist, per_node = os.environ.get("SLURM_JOB_NODELIST"), os.environ.get("SLURM_NTASKS_PER_NODE")
    if not nodelist or not per_node or not per_node.isdigit():
        return None
    from submitit.slurm.slurm import SlurmJobEnvironment

    return list(SlurmJobEnvironment().hostnames), int(per_node)


def _ranks_on(node: str) -> list[int]:
    """The global ranks SLURM placed on ``node`` (block distribution, equal tasks per node); [] outside SLURM."""
    layout = _slurm_layout()
    if layout is None or node not in layout[0]:
        return []
    first = layout[0].index(node) * layout[1]
    return list(range(first, first + layout[1]))


def _node_of(rank: int) -> str | None:
    """The SLURM node that runs global ``rank`` (block distribution); None outside SLURM."""
    layout = _slurm_layout()
    if layout is None or not 0 <= rank < len(layout[0]) * layout[1]:
        return None
    return layout[0][rank // layout[1]]


def broadcast_flag(flag: bool, env: DistEnv) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not env.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return bool(t.item() > 0)


def launch_rank() -> int:
    """This process's global rank as the launcher set it (torchrun's RANK or a multi-task SLURM step's
    SLURM_PROCID), readable before :func:`setup`; 0 for a single process."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return int(os.environ.get("SLURM_PROCID", "0"))
    return 0


def quiet_other_ranks(rank: int | None = None) -> None:
    """On ranks other than 0: no log file (rank 0 alone writes run.log) and only warnings on the console."""
    if (launch_rank() if rank is None else rank) == 0:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
        else:
            handler.setLevel(logging.WARNING)


def exit_process(code: int | str | None) -> None:
    """End the process with ``code``; after a process group was used: flush, destroy it and ``os._exit``.

    gloo workers on CPU abort about 1 run in 5 at interpreter exit ("terminate called without an active
    exception", SIGABRT) after finishing their work; skipping interpreter teardown avoids it.
    """
    if not _process_group_used:
        sys.exit(code)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    if dist.is_initialized():
        dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# ---------------------------------------------------------------------------------------------------------------
# sharded (FSDP2) models


def is_sharded(model: torch.nn.Module) -> bool:
    """True for a model wrapped with FSDP2's ``fully_shard`` (its parameters are DTensors)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def squared_sum(t: torch.Tensor) -> float:
    """Sum of squares of all elements of ``t``, over every rank's shard when ``t`` is a sharded DTensor
    (a collective then: call it on every rank)."""
    from torch.distributed.tensor import DTensor

    total = t.float().pow(2).sum()
    if isinstance(total, DTensor):
        total = total.full_tensor()
    return float(total)


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The full (unsharded) state dict of a sharded model on rank 0, on the CPU; None on the other ranks.

    A collective: every rank must call it. For a model that is not sharded, its own state dict on every rank.
    """
    if not is_sharded(model):
        return getattr(model, "module", model).state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() != 0:
        return None
    # tied parameters (input and output embeddings) come back as separate copies: make them one tensor again
    first: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first and name in state:
            state[name] = state[first[id(param)]]
        first.setdefault(id(param), name)
    return state


def unsharded_copy(model: torch.nn.Module, device: torch.device) -> torch.nn.Module | None:
    """An ordinary (unsharded) copy of a sharded Hugging Face model on rank 0, for evaluation; None elsewhere.

    A collective (the weights are gathered): every rank must call it. A model that is not sharded is returned
    as it is.
    """
    if not is_sharded(model):
        return getattr(model, "module", model)
    state = full_state_dict(model)
    if state is None:
        return None
    copy: Any = _new_like(model)
    missing, unexpected = copy.load_state_dict(state, strict=False)
    tied = set(getattr(copy, "_tied_weights_keys", None) or [])
    if unexpected or set(missing) - tied:
        raise RuntimeError(
            f"gathered weights do not fit {type(copy).__name__}: missing {missing}, unexpected {unexpected}"
        )
    if hasattr(copy, "tie_weights"):
        copy.tie_weights()
    dtype = next(v.dtype for v in state.values() if v.is_floating_point())
    return copy.to(device=device, dtype=dtype).eval()


def _new_like(model: torch.nn.Module) -> torch.nn.Module:
    """A fresh instance of a Hugging Face model's class from its config (FSDP2 subclasses the instance's class)."""
    from torch.distributed.fsdp import FSDPModule

    cls = next(c for c in type(model).__mro__ if not issubclass(c, FSDPModule))
    copy = cls(model.config)
    if getattr(model, "generation_config", None) is not None:
        copy.generation_config = model.generation_config
    return copy
