"""redi.diagnose: the checks on hand-made inputs (equal traces give ratio 1, a paired gain by hand) and the
command end to end on a tiny untrained model and a small shortcut-task pair set."""

from __future__ import annotations

import json
import math

import pytest

from redi import diagnose
from redi.data.tokenize import Encoded, EncodedRows

SMALL = [
    "data=synthetic_shortcut",
    "data.synthetic.num_problems=60",
    "data.synthetic.num_eval_problems=6",
    "model.arch.hidden_size=32",
    "model.arch.intermediate_size=64",
    "model.arch.num_hidden_layers=1",
]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A tiny untrained model and its tokenizer, saved as a model directory."""
    from redi.data.build import load_rows as load_traces
    from redi.model.load import build_tiny_model, save_model, train_tokenizer

    cfg = diagnose.compose_config(SMALL)
    traces = load_traces(cfg.data)
    tokenizer = train_tokenizer(
        (t for r in traces for t in [r["problem"], *r["generations"]]), 512, cfg.model.chat_template
    )
    model = build_tiny_model(cfg.model.arch, tokenizer, seed=0)
    target = tmp_path_factory.mktemp("student") / "model"
    save_model(model, tokenizer, target)
    return target, model, tokenizer


def test_equal_chosen_and_rejected_give_ratios_of_one(student):
    _, model, tokenizer = student
    ids = tokenizer("Compute 1 + 2.\n1 + 2 [1+2=3] = 3", add_special_tokens=False)["input_ids"]
    seq = Encoded(ids, 4, False)
    rows = EncodedRows([seq, seq], [seq, seq], [2 * len(ids)] * 2, 0, 0)
    chosen, rejected = diagnose.logprob_gap(model, rows, [0, 1], tokenizer.pad_token_id)
    assert chosen == pytest.approx(rejected) and chosen < 0
    assert diagnose.grad_norm_ratio(model, rows, [0, 1], tokenizer.pad_token_id) == pytest.approx(
        1.0, rel=1e-5
    )


def test_paired_gain_by_hand(tmp_path):
    (tmp_path / "eval").mkdir()
    start = [("a", 0), ("a", 0), ("b", 1), ("b", 0), ("c", 1), ("c", 1)]
    end = [("a", 1), ("a", 1), ("b", 1), ("b", 1), ("c", 1), ("c", 0)]
    for step, rows in ((0, start), (7, end)):
        text = "\n".join(json.dumps({"prompt_id": p, "correct": bool(c)}) for p, c in rows)
        (tmp_path / "eval" / f"step_{step}.jsonl").write_text(text)
    out = diagnose.paired_gain_from_run(tmp_path, 7)
    # per problem: a 0 -> 1 (+1), b 0.5 -> 1 (+0.5), c 1 -> 0.5 (-0.5): mean 1/3, sample sd of (1, .5, -.5)
    assert out["start"] == pytest.approx(0.5) and out["end"] == pytest.approx(5 / 6)
    assert out["gain"] == pytest.approx(1 / 3)
    sd = math.sqrt(((1 - 1 / 3) ** 2 + (0.5 - 1 / 3) ** 2 + (-0.5 - 1 / 3) ** 2) / 2)
    assert out["gain_se"] == pytest.approx(sd / math.sqrt(3))


@pytest.mark.slow
def test_the_command_prints_every_check(student, tmp_path, capsys):
    model_dir, _, _ = student
    args = [
        "--model",
        str(model_dir),
        "--pairs",
        "16",
        "--grad-pairs",
        "8",
        "--batch",
        "4",
        "--probe-problems",
        "6",
    ]
    diagnose.main([*SMALL, *args, "--threads", "1", "--json", str(tmp_path / "d.json")])
    text = capsys.readouterr().out
    out = json.loads((tmp_path / "d.json").read_text())
    assert out["logp_ratio"] == pytest.approx(out["rejected_logp"] / out["chosen_logp"])
    assert out["grad_ratio"] > 0 and out["probe_sites"] > 0 and 0 < out["start"]["shortcut_p"] < 1
    assert set(out["one_step"]) == {"0.0", "0.8"} and all(len(v) == 3 for v in out["one_step"].values())
    for needle in (
        "ratio",
        "gradient norm negative / positive",
        "one step of alpha 0.8",
        "shortcut probability",
    ):
        assert needle in text


def test_missing_stage1_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("REDI_CACHE_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="no finished stage-1 model"):
        diagnose.load_student(diagnose.compose_config(SMALL), None)
