"""Starting the cluster's daemons one by one (munged, mariadbd, then the SLURM daemons) and recognising them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.slurm_cluster.state import DB_PASSWORD, Cluster, ClusterStartError, ClusterUnavailable

# ---------------------------------------------------------------------------------------------------------------
# processes


def sbin(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise ClusterUnavailable(f"{name} not found")
    return found


def spawn(
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


def wait_for(
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


def ok(cmd: list[str], env: dict[str, str], expect: str | None = None) -> bool:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    return proc.returncode == 0 and (expect is None or expect in proc.stdout)


def start_munge(cluster: Cluster, env: dict[str, str]) -> None:
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
    proc = spawn(
        cluster,
        "munged",
        [
            sbin("munged"),
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
    wait_for(
        "munged",
        lambda: ok(["bash", "-c", f"munge -n -S {sock} | unmunge -S {sock}"], env),
        proc,
        20,
        mdir / "munged.log",
    )


def start_mariadb(cluster: Cluster, env: dict[str, str], port: int) -> None:
    ddir = cluster.root / "mariadb"
    datadir, sock = ddir / "data", ddir / "mariadb.sock"
    ddir.mkdir(exist_ok=True)
    tmpdir = (
        ddir / "tmp"
    )  # private temporary tables: a shared /tmp being cleaned under it broke the bootstrap
    tmpdir.mkdir(exist_ok=True)
    init = subprocess.run(
        [
            sbin("mariadb-install-db"),
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
    proc = spawn(
        cluster,
        "mariadbd",
        [
            sbin("mariadbd"),
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
    wait_for("mariadbd", lambda: ok([*client, "-e", "SELECT 1"], env), proc, 60, err)
    sql = (
        "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';FLUSH PRIVILEGES;"
    )
    done = subprocess.run([*client, "-e", sql], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterStartError(f"creating the accounting database failed: {done.stderr}")


def node_command(name: str, conf: Path, hosts: Path) -> list[str]:
    """The command line of node ``name``'s slurmd: in new mount and UTS namespaces, with the node's hostname and
    the cluster's hosts file over /etc/hosts (private to those namespaces, so the machine's is untouched).

    ``unshare`` and ``sh`` exec into slurmd, so the recorded pid is slurmd's.
    """
    script = 'mount --bind "$1" /etc/hosts && hostname "$2" && exec "$3" -D -N "$2" -f "$4"'
    return [
        sbin("unshare"),
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
        sbin("slurmd"),
        str(conf),
    ]


def alive(pid: int, root: Path) -> bool:
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


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
