"""The cluster's constants, its errors, and the record of a started cluster (``<dir>/state.json``)."""

from __future__ import annotations

import json
import tempfile
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
DB_PASSWORD = "redi-local-slurmdbd"  # a throw-away database on 127.0.0.1 inside the cluster directory


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
