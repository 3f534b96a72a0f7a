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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server")
BINARIES = (
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "munged",
    "mariadbd",
    "mariadb-install-db",
    "sbatch",
    "sacctmgr",
)
DEFAULT_DIR = Path(tempfile.gettempdir()) / "redi-slurm"
DEFAULT_NODES = 2
PARTITION = "debug"
CLUSTER_NAME = "redilocal"
_DB_PASSWORD = "redi-local-slurmdbd"  # a throw-away database on 127.0.0.1 inside the cluster directory


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed here (not root, no apt-get, the packages cannot be fetched): tests skip."""


class ClusterStartError(RuntimeError):
    """The packages are there but a daemon did not come up: a real failure, with the daemon's log."""


@dataclass
class Cluster:
    """A started cluster: its directory, the environment clients need, and the processes it started."""

    root: Path
    slurm_conf: Path
    partition: str = PARTITION
    nodes: dict[str, str] = field(default_factory=dict)  # node name -> its address
    pids: dict[str, int] = field(default_factory=dict)
    installed_packages: bool = False
    start_seconds: float = 0.0

    @property
    def env(self) -> dict[str, str]:
        """Variables a SLURM client (sbatch, submitit) needs to talk to this cluster."""
        return {"SLURM_CONF": str(self.slurm_conf)}

    def save(self) -> None:
        data = asdict(self)
        data["root"], data["slurm_conf"] = str(self.root), str(self.slurm_conf)
        (self.root / "state.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, root: Path) -> Cluster:
        data = json.loads((Path(root) / "state.json").read_text())
        data["root"], data["slurm_conf"] = Path(data["root"]), Path(data["slurm_conf"])
        return cls(**data)


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


def _free_port() -> int:
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
StoragePass={_DB_PASSWORD}
StorageLoc=slurm_acct_db
""",
        mode=0o600,
    )
    return slurm_conf


# ---------------------------------------------------------------------------------------------------------------
# processes


def _sbin(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise ClusterUnavailable(f"{name} not found")
    return found


def _spawn(
    cluster: Cluster, name: str, cmd: list[str], env: dict[str, str], **kwargs: object
) -> subprocess.Popen:
    log = open(cluster.root / "log" / f"{name}.stdout", "ab")  # noqa: SIM115 (kept open by the child)
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kwargs,
    )
    log.close()
    cluster.pids[name] = proc.pid
    cluster.save()
    return proc


def _wait_for(
    what: str, check: Callable[[], bool], proc: subprocess.Popen | None, timeout_s: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    state = f"exited with {proc.returncode}" if proc is not None and proc.poll() is not None else "timed out"
    raise ClusterStartError(f"{what} did not come up ({state}); log {log}:\n{tail}")


def _ok(cmd: list[str], env: dict[str, str], expect: str | None = None) -> bool:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    return proc.returncode == 0 and (expect is None or expect in proc.stdout)


def _start_munge(cluster: Cluster, env: dict[str, str]) -> None:
    import pwd

    mdir = cluster.root / "munge"
    mdir.mkdir(exist_ok=True)
    mdir.chmod(0o755)  # munged requires its socket directory to be searchable by all
    key = mdir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge = pwd.getpwnam("munge")
    for p in (mdir, key):
        os.chown(p, munge.pw_uid, munge.pw_gid)
    sock = mdir / "munge.socket"
    proc = _spawn(
        cluster,
        "munged",
        [
            _sbin("munged"),
            "-F",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--log-file={mdir / 'munged.log'}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--seed-file={mdir / 'munged.seed'}",
        ],
        env,
        user=munge.pw_uid,
        group=munge.pw_gid,
        extra_groups=[],
    )
    _wait_for(
        "munged",
        lambda: _ok(["bash", "-c", f"munge -n -S {sock} | unmunge -S {sock}"], env),
        proc,
        20,
        mdir / "munged.log",
    )


def _start_mariadb(cluster: Cluster, env: dict[str, str], port: int) -> None:
    ddir = cluster.root / "mariadb"
    datadir, sock = ddir / "data", ddir / "mariadb.sock"
    ddir.mkdir(exist_ok=True)
    tmpdir = (
        ddir / "tmp"
    )  # private temporary tables: a shared /tmp being cleaned under it broke the bootstrap
    tmpdir.mkdir(exist_ok=True)
    init = subprocess.run(
        [
            _sbin("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise ClusterStartError(f"mariadb-install-db failed: {init.stderr[-2000:]}")
    err = ddir / "mariadbd.err"
    proc = _spawn(
        cluster,
        "mariadbd",
        [
            _sbin("mariadbd"),
            "--no-defaults",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            f"--pid-file={ddir / 'mariadbd.pid'}",
            f"--log-error={err}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M",
            "--innodb-lock-wait-timeout=900",
        ],
        env,
    )
    client = [shutil.which("mariadb") or "mysql", "--no-defaults", f"--socket={sock}", "-uroot"]
    _wait_for("mariadbd", lambda: _ok([*client, "-e", "SELECT 1"], env), proc, 60, err)
    sql = (
        "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{_DB_PASSWORD}';"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';FLUSH PRIVILEGES;"
    )
    done = subprocess.run([*client, "-e", sql], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterStartError(f"creating the accounting database failed: {done.stderr}")


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
    if (root / "state.json").exists() and any(_alive(p, root) for p in Cluster.load(root).pids.values()):
        raise ClusterStartError(f"a cluster is already running from {root}; stop it first")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # munged (as the munge user) must traverse it
    addresses = node_addresses(nodes)
    names = ["slurmctld", "slurmdbd", "mariadb", *(f"slurmd-{n}" for n in addresses)]
    ports = {n: _free_port() for n in names}
    conf = write_configs(root, cpus or os.cpu_count() or 1, ports, addresses)
    hosts = write_hosts(root, addresses)
    cluster = Cluster(root=root, slurm_conf=conf, nodes=addresses, installed_packages=installed)
    cluster.save()
    env = {**os.environ, **cluster.env}
    try:
        _start_munge(cluster, env)
        _start_mariadb(cluster, env, ports["mariadb"])
        log = root / "log"
        proc = _spawn(cluster, "slurmdbd", [_sbin("slurmdbd"), "-D"], env)
        _wait_for(
            "slurmdbd",
            lambda: _ok(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], env),
            proc,
            60,
            log / "slurmdbd.log",
        )
        proc = _spawn(cluster, "slurmctld", [_sbin("slurmctld"), "-D", "-f", str(conf)], env)
        _wait_for(
            "slurmctld", lambda: _ok(["scontrol", "ping"], env, expect="UP"), proc, 60, log / "slurmctld.log"
        )
        for name in addresses:
            proc = _spawn(cluster, f"slurmd-{name}", node_command(name, conf, hosts), env)
            _wait_for(
                f"slurmd of {name}",
                lambda name=name: _ok(["sinfo", "-h", "-n", name, "-o", "%T"], env, expect="idle"),
                proc,
                60,
                log / f"slurmd-{name}.log",
            )
        _wait_for(
            "accounting",
            lambda: _ok(
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


def node_command(name: str, conf: Path, hosts: Path) -> list[str]:
    """The command line of node ``name``'s slurmd: in new mount and UTS namespaces, with the node's hostname and
    the cluster's hosts file over /etc/hosts (private to those namespaces, so the machine's is untouched).

    ``unshare`` and ``sh`` exec into slurmd, so the recorded pid is slurmd's.
    """
    script = 'mount --bind "$1" /etc/hosts && hostname "$2" && exec "$3" -D -N "$2" -f "$4"'
    return [
        _sbin("unshare"),
        "--mount",
        "--uts",
        "--propagation=private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "slurmd-node",
        str(hosts),
        name,
        _sbin("slurmd"),
        str(conf),
    ]


def _alive(pid: int, root: Path) -> bool:
    """True when ``pid`` runs and is one of this cluster's processes (its command line names ``root``)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    # slurmdbd/slurmctld/slurmd find their config through SLURM_CONF, not the command line
    if not zombie and str(root) not in cmdline:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False
        return f"SLURM_CONF={root}".encode() in environ
    return not zombie


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
    if "slurmctld" in cluster.pids and _alive(cluster.pids["slurmctld"], cluster.root):
        cancel_jobs(cluster)
    stopped = []
    for name, pid in reversed(list(cluster.pids.items())):
        if not _alive(pid, cluster.root):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid, cluster.root) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid, cluster.root):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
        stopped.append(name)
    cluster.pids.clear()
    cluster.save()
    return stopped


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class RequeueReleaser:
    """Start requeued jobs at once instead of after Slurm's hold (about 2 minutes of Reason=BeginTime).

    Slurm makes a requeued batch job eligible only after a delay; on a test cluster that is dead time. This thread
    sets StartTime=now on pending jobs held for BeginTime that have restarted at least once, ``settle_s`` after it
    first saw them held (slurmd refuses to relaunch a job in the same second its previous run was killed: "already
    killed, do not launch batch job"). The ids are kept in ``released``. It only shortens the wait: the requeue
    itself is Slurm's and submitit's.
    """

    def __init__(self, cluster: Cluster, interval_s: float = 0.5, settle_s: float = 5.0) -> None:
        import threading

        self.cluster = cluster
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.released: list[str] = []
        self._held_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="slurm-requeue-releaser", daemon=True)

    def __enter__(self) -> RequeueReleaser:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        env = {**os.environ, **self.cluster.env}
        while not self._stop.wait(self.interval_s):
            try:
                out = subprocess.run(
                    ["squeue", "-h", "-t", "PD", "-o", "%i|%r"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=20,
                )
                for line in out.stdout.split():
                    job_id, _, reason = line.partition("|")
                    if reason != "BeginTime":
                        continue
                    show = subprocess.run(
                        ["scontrol", "-o", "show", "job", job_id],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=20,
                    )
                    if "Restarts=0 " in show.stdout:
                        continue  # submitted with --begin on purpose, not a requeue
                    key = f"{job_id}/{show.stdout.split('Restarts=')[1].split()[0]}"
                    if time.monotonic() - self._held_since.setdefault(key, time.monotonic()) < self.settle_s:
                        continue
                    done = subprocess.run(
                        ["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                        env=env,
                        capture_output=True,
                        timeout=20,
                    )
                    if done.returncode == 0:
                        self.released.append(job_id)
            except (OSError, subprocess.SubprocessError):
                continue


def status(root: Path) -> dict[str, bool]:
    """Which recorded processes of the cluster in ``root`` are running."""
    cluster = Cluster.load(root)
    return {name: _alive(pid, cluster.root) for name, pid in cluster.pids.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"cluster directory (default {DEFAULT_DIR})"
    )
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of each node (default: all)")
    parser.add_argument(
        "--nodes", type=int, default=DEFAULT_NODES, help="number of nodes (default %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            cluster = start(args.dir, cpus=args.cpus, nodes=args.nodes)
            print(f"# started in {cluster.start_seconds:.1f} s; logs in {cluster.root}/log", file=sys.stderr)
            print(f"export SLURM_CONF={cluster.slurm_conf}")
        elif args.action == "stop":
            print("stopped: " + (", ".join(stop(args.dir)) or "nothing was running"))
        else:
            for name, alive in status(args.dir).items():
                print(f"{name}\t{'running' if alive else 'stopped'}")
    except (ClusterUnavailable, ClusterStartError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
