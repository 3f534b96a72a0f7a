"""The reason a distributed run records when a collective lost a peer: the node and ranks that went away."""

from __future__ import annotations

import socket

import pytest

from redi.infra.distributed import DistEnv, describe_failure

GLOO_CLOSED = (
    "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.3]:62329"
)
GLOO_RESET = "[../third_party/gloo/gloo/transport/tcp/pair.cc:598] Read error [127.0.0.3]:5321: Connection reset by peer"


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SLURM job on node1 and node2 with two tasks each; 127.0.0.3 is node2."""
    monkeypatch.setenv("SLURM_JOB_NODELIST", "node[1-2]")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    names = {"127.0.0.3": "node2.cluster"}

    def gethostbyaddr(address: str) -> tuple[str, list[str], list[str]]:
        if address not in names:
            raise socket.herror(1, "unknown host")
        return names[address], [], [address]

    monkeypatch.setattr(socket, "gethostbyaddr", gethostbyaddr)


@pytest.mark.parametrize("message", [GLOO_CLOSED, GLOO_RESET])
def test_a_lost_peer_is_named_by_node_and_ranks(two_nodes: None, message: str) -> None:
    reason = describe_failure(RuntimeError(message), DistEnv(rank=0, world_size=4))
    assert reason.startswith("lost ranks 2, 3 on node2 (127.0.0.3) during a collective")
    assert "(this is rank 0 of 4)" in reason and reason.endswith(f"RuntimeError: {message}")


def test_an_unresolvable_peer_is_named_by_its_address(two_nodes: None) -> None:
    message = GLOO_CLOSED.replace("127.0.0.3", "10.1.2.3")
    reason = describe_failure(RuntimeError(message), DistEnv(rank=1, world_size=4))
    assert reason.startswith("lost 10.1.2.3 (10.1.2.3) during a collective")


def test_other_errors_and_single_processes_keep_type_and_message(two_nodes: None) -> None:
    assert describe_failure(ValueError("bad row 3"), DistEnv(rank=0, world_size=4)) == "ValueError: bad row 3"
    assert describe_failure(RuntimeError(GLOO_CLOSED), DistEnv()) == f"RuntimeError: {GLOO_CLOSED}"


def test_with_two_ranks_the_lost_peer_is_the_other_rank_whatever_the_address(
    two_nodes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # between loopback nodes a connection the peer opened comes from 127.0.0.1, which is no node of the job
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "1")
    message = GLOO_RESET.replace("127.0.0.3]:5321", "127.0.0.1]:44217")
    reason = describe_failure(RuntimeError(message), DistEnv(rank=0, world_size=2))
    assert reason.startswith(
        "lost rank 1 on node2 (the only other rank; its connection came from 127.0.0.1) during a collective"
    )
    assert describe_failure(RuntimeError(message), DistEnv(rank=1, world_size=2)).startswith(
        "lost rank 0 on node1 "
    )


def test_with_two_ranks_outside_slurm_the_other_rank_is_named_without_a_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    reason = describe_failure(RuntimeError(GLOO_CLOSED), DistEnv(rank=1, world_size=2))
    assert reason.startswith("lost rank 0 (the only other rank; its connection came from 127.0.0.3) during")
