"""Installing the Debian packages and writing the cluster's configuration (slurm.conf, slurmdbd.conf, hosts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.slurm_cluster.state import (
    BINARIES,
    CLUSTER_NAME,
    DB_PASSWORD,
    PACKAGES,
    PARTITION,
    ClusterUnavailable,
)

# ---------------------------------------------------------------------------------------------------------------
# installation


def missing_binaries() -> list[str]:
    """The SLURM/munge/MariaDB programs not found on PATH (sbin included)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [b for b in BINARIES if shutil.which(b, path=path) is None]


def ensure_installed() -> bool:
    """Install the Debian packages when a program is missing; True when this call installed them.

    Raises ClusterUnavailable with the reason when installing is impossible (not root, no apt-get, apt failed).
    """
    missing = missing_binaries()
    if not missing:
        return False
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            f"SLURM programs missing ({', '.join(missing)}) and not root: cannot apt-get install"
        )
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"SLURM programs missing ({', '.join(missing)}) and apt-get is unavailable")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise ClusterUnavailable(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {tail}")
    still = missing_binaries()
    if still:
        raise ClusterUnavailable(f"installed {PACKAGES} but still missing: {still}")
    return True


# ---------------------------------------------------------------------------------------------------------------
# configuration


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 - 512
    return 1024


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)


def node_addresses(count: int) -> dict[str, str]:
    """The cluster's node names and their loopback addresses: node1 -> 127.0.0.2, node2 -> 127.0.0.3, ..."""
    if not 1 <= count <= 250:
        raise ValueError(f"nodes={count}: a local cluster has 1 to 250 nodes")
    return {f"node{k}": f"127.0.0.{k + 1}" for k in range(1, count + 1)}


def write_hosts(root: Path, nodes: dict[str, str]) -> Path:
    """The nodes' /etc/hosts: the machine's own lines, then one line per node (mounted inside their namespaces)."""
    try:
        own = Path("/etc/hosts").read_text()
    except OSError:
        own = "127.0.0.1 localhost\n"
    lines = [own.rstrip("\n"), "# nodes of the private SLURM cluster (tests.support.slurm_cluster)"]
    lines += [f"{addr} {name}" for name, addr in nodes.items()]
    path = root / "etc" / "hosts"
    _write(path, "\n".join(lines) + "\n")
    return path


def write_configs(root: Path, cpus: int, ports: dict[str, int], nodes: dict[str, str] | None = None) -> Path:
    """Write slurm.conf and slurmdbd.conf for a cluster of ``nodes`` (name -> address) under ``root``.

    ``ports`` names the slurmctld, slurmdbd and mariadb ports and one per node (``slurmd-<name>``). Returns
    slurm.conf's path.
    """
    nodes = nodes or node_addresses(1)
    host = socket.gethostname().split(".")[0]
    memory = max(_memory_mb() // len(nodes), 256)
    node_lines = "\n".join(
        f"NodeName={name} NodeAddr={addr} NodeHostname={name} Port={ports[f'slurmd-{name}']} CPUs={cpus} "
        f"RealMemory={memory} State=UNKNOWN"
        for name, addr in nodes.items()
    )
    munge_socket = root / "munge" / "munge.socket"
    slurm_conf = root / "etc" / "slurm.conf"
    slurm_conf.parent.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "log", "run"):
        (root / sub).mkdir(exist_ok=True)
    _write(
        slurm_conf,
        f"""# written by tests.support.slurm_cluster
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports["slurmctld"]}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/slurmd-%n
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=600
SlurmdTimeout=20
JobRequeue=1
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["slurmdbd"]}
AccountingStoragePass={munge_socket}
{node_lines}
PartitionName={PARTITION} Nodes={",".join(nodes)} Default=YES MaxTime=INFINITE State=UP
""",
    )
    _write(
        root / "etc" / "slurmdbd.conf",
        f"""# written by tests.support.slurm_cluster
AuthType=auth/munge
AuthInfo=socket={munge_socket}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
PidFile={root}/run/slurmdbd.pid
LogFile={root}/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mariadb"]}
StorageUser=slurm
StoragePass={DB_PASSWORD}
StorageLoc=slurm_acct_db
""",
        mode=0o600,
    )
    return slurm_conf
