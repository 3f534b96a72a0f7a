"""``python -m tests.support.slurm_cluster start|status|stop``: the local cluster by hand (see the package doc)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.support.slurm_cluster import __doc__ as DOC
from tests.support.slurm_cluster.cluster import start, status, stop
from tests.support.slurm_cluster.state import (
    DEFAULT_DIR,
    DEFAULT_NODES,
    ClusterStartError,
    ClusterUnavailable,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
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
