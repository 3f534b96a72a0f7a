"""Starting and stopping a whole cluster: install, configure, start every daemon in order; cancel and end."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.slurm_cluster.configs import (
    ensure_installed,
    free_port,
    node_addresses,
    write_configs,
    write_hosts,
)
from tests.support.slurm_cluster.daemons import (
    alive,
    node_command,
    ok,
    reap,
    sbin,
    spawn,
    start_mariadb,
    start_munge,
    wait_for,
)
from tests.support.slurm_cluster.state import (
    CLUSTER_NAME,
    DEFAULT_NODES,
    Cluster,
    ClusterStartError,
    ClusterUnavailable,
)


def start(
    root: Path | None = None, cpus: int | None = None, install: bool = True, nodes: int = DEFAULT_NODES
) -> Cluster:
    """Install when needed, write configs and start munged, mariadbd, slurmdbd, slurmctld and one slurmd per node.

    Raises ClusterUnavailable when SLURM cannot be installed or run here (no root, no apt), ClusterStartError when
    a daemon fails; on a failure the processes already started are stopped first.
    """
    t0 = time.monotonic()
    installed = ensure_installed() if install else False
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            "starting the SLURM daemons needs root (SlurmUser=root, munged as the munge user)"
        )
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="redi-slurm-"))
    root = Path(root).resolve()
    if (root / "state.json").exists() and any(alive(p, root) for p in Cluster.load(root).pids.values()):
        raise ClusterStartError(f"a cluster is already running from {root}; stop it first")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # munged (as the munge user) must traverse it
    addresses = node_addresses(nodes)
    names = ["slurmctld", "slurmdbd", "mariadb", *(f"slurmd-{n}" for n in addresses)]
    ports = {n: free_port() for n in names}
    conf = write_configs(root, cpus or os.cpu_count() or 1, ports, addresses)
    hosts = write_hosts(root, addresses)
    cluster = Cluster(root=root, slurm_conf=conf, nodes=addresses, installed_packages=installed)
    cluster.save()
    env = {**os.environ, **cluster.env}
    try:
        start_munge(cluster, env)
        start_mariadb(cluster, env, ports["mariadb"])
        log = root / "log"
        proc = spawn(cluster, "slurmdbd", [sbin("slurmdbd"), "-D"], env)
        wait_for(
            "slurmdbd",
            lambda: ok(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], env),
            proc,
            60,
            log / "slurmdbd.log",
        )
        proc = spawn(cluster, "slurmctld", [sbin("slurmctld"), "-D", "-f", str(conf)], env)
        wait_for(
            "slurmctld", lambda: ok(["scontrol", "ping"], env, expect="UP"), proc, 60, log / "slurmctld.log"
        )
        for name in addresses:
            proc = spawn(cluster, f"slurmd-{name}", node_command(name, conf, hosts), env)
            wait_for(
                f"slurmd of {name}",
                lambda name=name: ok(["sinfo", "-h", "-n", name, "-o", "%T"], env, expect="idle"),
                proc,
                60,
                log / f"slurmd-{name}.log",
            )
        wait_for(
            "accounting",
            lambda: ok(
                ["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], env, expect=CLUSTER_NAME
            ),
            None,
            60,
            log / "slurmdbd.log",
        )
    except BaseException:
        stop(cluster)
        raise
    cluster.start_seconds = time.monotonic() - t0
    cluster.save()
    return cluster


def cancel_jobs(cluster: Cluster, timeout_s: float = 60) -> None:
    """Cancel every job of this private cluster and wait until none is left running."""
    env = {**os.environ, **cluster.env}
    try:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True, timeout=20)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = subprocess.run(
                ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=20
            )
            if out.returncode != 0 or not out.stdout.strip():
                return
            time.sleep(0.5)
    except (OSError, subprocess.SubprocessError):
        return


def stop(cluster: Cluster | Path, timeout_s: float = 20) -> list[str]:
    """Cancel the cluster's jobs, then end the processes ``start`` recorded, newest first; return their names."""
    if not isinstance(cluster, Cluster):
        cluster = Cluster.load(Path(cluster))
    if "slurmctld" in cluster.pids and alive(cluster.pids["slurmctld"], cluster.root):
        cancel_jobs(cluster)
    stopped = []
    for name, pid in reversed(list(cluster.pids.items())):
        if not alive(pid, cluster.root):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid, cluster.root) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.1)
        if alive(pid, cluster.root):
            os.kill(pid, signal.SIGKILL)
        reap(pid)
        stopped.append(name)
    cluster.pids.clear()
    cluster.save()
    return stopped


def status(root: Path) -> dict[str, bool]:
    """Which recorded processes of the cluster in ``root`` are running."""
    cluster = Cluster.load(root)
    return {name: alive(pid, cluster.root) for name, pid in cluster.pids.items()}
