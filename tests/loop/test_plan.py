"""The batch plan when the rows make no full global batch: one batch of every row per epoch, as torch's
DataLoader without drop_last gives; with a full batch the epoch's smaller last batch is still dropped."""

from __future__ import annotations

from redi.loop.plan import Batching, BatchPlan


def plan(rows: int, global_batch: int, epochs: float = 1, mode: str = "grouped") -> BatchPlan:
    return BatchPlan(
        lengths=[10 + i % 5 for i in range(rows)],
        global_batch=global_batch,
        seed=0,
        batching=Batching(mode),
        epochs=epochs,
        max_steps=-1,
    )


def test_fewer_rows_than_the_batch_train_as_one_batch_of_them_all():
    for mode in ("grouped", "random"):
        small = plan(17, 32, epochs=3, mode=mode)  # the smoke run's 17 stage-1 rows against a batch of 32
        assert not small.has_full_batch
        assert (small.steps_per_epoch, small.total_steps) == (1, 3)
        for step in range(3):  # every epoch is the same 17 rows, each once
            assert sorted(small.batch(step)) == list(range(17))


def test_with_a_full_batch_the_smaller_last_one_is_still_dropped():
    full = plan(40, 32)
    assert full.has_full_batch
    assert full.steps_per_epoch == 1 and len(full.batch(0)) == 32  # 8 rows wait for another epoch's shuffle
    exact = plan(32, 32)
    assert exact.has_full_batch and sorted(exact.batch(0)) == list(range(32))
