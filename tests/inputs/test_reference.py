"""Reference log-probs, computed on length-sorted rows through the loop's forwards, equal the plain path row by row."""

from __future__ import annotations

import torch

from redi.data.tokenize import collate_rows
from redi.infra.distributed import DistEnv
from redi.inputs.reference import compute_reference_logps
from redi.loop.logprobs import plain_sequence_logps
from tests.loop.test_logprobs import tiny_qwen
from tests.loop.test_step import long_tailed_rows


def test_reference_logps_equal_the_plain_path_in_the_rows_order():
    model, rows = tiny_qwen(vocab=40), long_tailed_rows(7, pairs=True)
    ref = compute_reference_logps(model, rows, 0, 3, DistEnv())
    with torch.no_grad():
        logps, _ = plain_sequence_logps(model, collate_rows(rows, list(range(7)), 0))
    assert ref.shape == (7, 2)
    assert torch.allclose(ref[:, 0], logps[:7], rtol=1e-5) and torch.allclose(ref[:, 1], logps[7:], rtol=1e-5)
