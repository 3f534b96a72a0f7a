"""A real SLURM cluster of several nodes on one machine (slurmctld, one slurmd per node, slurmdbd, MariaDB, munge).

Used by the SLURM integration tests, and by hand::

    python -m tests.support.slurm_cluster start [--dir DIR] [--nodes 2]   # prints `export SLURM_CONF=...`
    python -m tests.support.slurm_cluster status [--dir DIR]
    python -m tests.support.slurm_cluster stop [--dir DIR]

Everything (configs, state, logs, the database, the munge socket and key) lives under one directory; the daemons
listen on free ports, so a system cluster or a second private cluster is not disturbed. ``stop`` cancels the
cluster's jobs and ends only the processes ``start`` recorded in ``<dir>/state.json``. Debian packages are installed
with apt when absent (root only); they are left installed.

Nodes: ``node1`` .. ``nodeN``, each its own slurmd (``slurmd -N nodeK``) with its own port (``Port=`` on its
NodeName line) and its own loopback address (NodeAddr 127.0.0.(K+1)); Debian's slurmd (22.05, built without
--enable-multiple-slurmd) runs several such daemons on one host. Each slurmd, and so every job task on that node,
runs in its own mount and UTS namespace (``unshare``): its hostname is the node's name and a private /etc/hosts,
bind-mounted over the machine's for that namespace only, resolves every node name to its address. So a job's
ranks see different hostnames and addresses, and submitit's master address (the first node's name) resolves the
way it does on a real cluster. Every node has all the machine's CPUs (the nodes share them).

Modules: ``state`` (constants, errors, the Cluster record), ``configs`` (packages and configuration files),
``daemons`` (starting each daemon), ``cluster`` (start and stop the whole), ``releaser`` (requeued jobs start at
once), ``__main__`` (the command line).
"""

from tests.support.slurm_cluster.cluster import cancel_jobs, start, status, stop
from tests.support.slurm_cluster.configs import (
    ensure_installed,
    missing_binaries,
    node_addresses,
    write_configs,
    write_hosts,
)
from tests.support.slurm_cluster.daemons import node_command
from tests.support.slurm_cluster.releaser import RequeueReleaser
from tests.support.slurm_cluster.state import (
    CLUSTER_NAME,
    DEFAULT_DIR,
    DEFAULT_NODES,
    PARTITION,
    Cluster,
    ClusterStartError,
    ClusterUnavailable,
)

__all__ = [
    "CLUSTER_NAME",
    "DEFAULT_DIR",
    "DEFAULT_NODES",
    "PARTITION",
    "Cluster",
    "ClusterStartError",
    "ClusterUnavailable",
    "RequeueReleaser",
    "cancel_jobs",
    "ensure_installed",
    "missing_binaries",
    "node_addresses",
    "node_command",
    "start",
    "status",
    "stop",
    "write_configs",
    "write_hosts",
]
