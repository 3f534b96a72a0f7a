"""A real SLURM cluster on localhost for the session: installed when absent, started, and stopped at the end.

Skips with the reason where SLURM cannot be installed (not root, no apt-get, no package mirror); a daemon that is
installed but does not start is an error. Only the processes this fixture started are stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import slurm_cluster
from tests.support.slurm_cluster import Cluster, ClusterUnavailable, RequeueReleaser


@pytest.fixture(scope="session")
def slurm() -> Iterator[tuple[Cluster, RequeueReleaser]]:
    """(the running cluster, its requeue releaser); SLURM_CONF points clients at it for the session.

    The cluster lives in a fresh /tmp/redi-slurm-* directory (not pytest's, which munged may not traverse); its
    logs are kept there after the session, the database is removed.
    """
    root = Path(tempfile.mkdtemp(prefix="redi-slurm-"))
    try:
        cluster = slurm_cluster.start(root)
    except ClusterUnavailable as exc:
        pytest.skip(f"no local SLURM cluster: {exc}")
    print(
        f"\nlocal SLURM cluster up in {cluster.start_seconds:.1f} s ({root}); packages installed: "
        f"{cluster.installed_packages}"
    )
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.slurm_conf)
    try:
        with RequeueReleaser(cluster) as releaser:
            yield cluster, releaser
    finally:
        slurm_cluster.stop(cluster)
        shutil.rmtree(root / "mariadb", ignore_errors=True)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
