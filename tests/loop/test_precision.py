"""Numerics that train at the paper's lr: the paper config's optimizer path (fp32 master weights and AdamW moments,
bf16 autocast) moves a small model's weights at lr 1e-6 as pure fp32 does, pure bf16 weights barely move, the
pre-flight refuses them, and a run on the paper's numerics resumes exactly from its fp32 checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file
from transformers import Qwen2Config, Qwen2ForCausalLM

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.config.checks import Checks, ConfigError
from redi.data.tokenize import Encoded, EncodedRows
from redi.infra.distributed import DistEnv
from redi.infra.session import Session
from redi.infra.state_io import load_state
from redi.loop.plan import Batching, BatchPlan
from redi.loop.precision import check_precision, update_floor
from redi.loop.train import EvalSchedule, LoopInputs, train
from redi.model.load import load_model
from redi.model.source import ModelSource
from redi.objectives import get_objective
from redi.validate import validate

CONF = Path(__file__).resolve().parents[2] / "conf"
VOCAB = 96
STEPS = 20


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def paper_cfg(*extra: str):
    """experiment=paper_stage2 (model=qwen2.5-math-1.5b, trainer=gpu8) with only the device moved to the CPU."""
    return compose_cfg(
        ["experiment=paper_stage2", "trainer.device=cpu", "trainer.progress_bar=false", *extra]
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread (the runs are tiny; two threads on a loaded 2-core machine wait on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory) -> Path:
    """A small Qwen2 saved in bf16, as Qwen2.5-Math-1.5B is on the hub (weights of std 0.02, tied embeddings)."""
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bf16_model")
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(path)
    return path


def pairs(n: int) -> EncodedRows:
    g = torch.Generator().manual_seed(3)

    def seq(length: int) -> Encoded:
        return Encoded(
            torch.randint(1, VOCAB, (length,), generator=g).tolist(), response_start=4, truncated=False
        )

    chosen = [seq(12 + i % 5) for i in range(n)]
    rejected = [seq(10 + i % 7) for i in range(n)]
    return EncodedRows(chosen, rejected, [len(c.ids) for c in chosen], 0, 0)


def train_run(
    cfg, checkpoint: Path, run_dir: Path
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Train REDI (alpha 0.8) for STEPS steps through the loop with ``cfg``'s model and trainer settings.

    Returns the weights before and after (float32 copies).
    """
    model = load_model(ModelSource("dir", str(checkpoint)), cfg.model, torch.device("cpu"))
    before = {k: v.detach().float().clone() for k, v in model.named_parameters()}
    rows = pairs(8)
    t = cfg.trainer
    plan = BatchPlan(
        rows.group_lengths, t.micro_batch_size * t.grad_accum_steps, 0, Batching("random"), 10, STEPS
    )
    inputs = LoopInputs(model, rows, plan, get_objective("redi"), {"alpha": 0.8}, None, 0, cfg.lr, cfg.seed)
    with Session.open(run_dir, DistEnv(), objective="redi", hyperparameters={}) as session:
        outcome = train(inputs, t, session, EvalSchedule())
    assert outcome.state == "completed" and outcome.step == STEPS
    return before, {k: v.detach().float().clone() for k, v in model.named_parameters()}


def matrices(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every 2-D weight flattened into one vector (biases start at 0 and norms at 1: not what rounding hits)."""
    return torch.cat([v.reshape(-1) for v in weights.values() if v.ndim == 2])


def test_update_floor_is_the_spacing_worked_out_by_hand():
    # bf16 keeps 8 significant bits: neighbours of 0.02 (in [2^-6, 2^-5)) are 2^-6 x 2^-7 = 1.22e-4 apart
    assert update_floor("bfloat16") == pytest.approx(0.02 / 256)  # 7.8e-5
    assert update_floor("float16") == pytest.approx(0.02 / 2048)  # 9.8e-6
    w = torch.tensor(0.02, dtype=torch.bfloat16)
    assert w + 1e-6 == w and w - 5e-5 == w  # below half the spacing: rounded away
    assert w + 2 * update_floor("bfloat16") != w


def test_paper_config_moves_weights_at_lr_1e6_as_fp32_does(bf16_checkpoint, tmp_path):
    paper = paper_cfg()
    assert (paper.lr, paper.model.dtype, paper.trainer.precision) == (1e-6, "float32", "bf16")
    start, mixed = train_run(paper, bf16_checkpoint, tmp_path / "mixed")
    _, fp32 = train_run(paper_cfg("trainer.precision=fp32"), bf16_checkpoint, tmp_path / "fp32")
    _, bf16 = train_run(paper_cfg("model.dtype=bfloat16"), bf16_checkpoint, tmp_path / "bf16")

    delta = {
        name: matrices(w) - matrices(start) for name, w in [("mixed", mixed), ("fp32", fp32), ("bf16", bf16)]
    }
    moved = {name: float((d != 0).float().mean()) for name, d in delta.items()}
    size = {name: float(d.abs().mean()) for name, d in delta.items()}
    off = float((delta["mixed"] - delta["fp32"]).norm() / delta["fp32"].norm())
    print(f"\nentries moved {moved}; mean |dw| {size}; |dw_mixed - dw_fp32| / |dw_fp32| = {off:.4f}")
    # the paper's numerics: every entry moves, by the fp32 amount
    assert moved["fp32"] > 0.999 and moved["mixed"] > 0.999
    assert size["mixed"] == pytest.approx(size["fp32"], rel=0.01)
    assert off < 0.05  # bf16 compute perturbs the gradients, not the size or direction of the step
    # pure bf16 (what model.dtype=bfloat16 did): almost nothing moves, and what does is off by whole spacings
    assert moved["bf16"] < 0.05 and size["bf16"] < 0.1 * size["fp32"]
    # the trained state is fp32: a saved model keeps the small updates
    assert all(v.dtype == torch.float32 for v in mixed.values())


def test_preflight_refuses_pure_bf16_at_the_papers_lrs():
    errors = _precision_errors(paper_cfg("model.dtype=bfloat16"))
    assert len(errors) == 2, errors  # stage 2 at lr 1e-6 and the stage-1 build at 5e-5
    assert errors[0].startswith("model.dtype='bfloat16' with lr=1e-06: AdamW would keep the trained weights")
    assert "model.dtype=float32 trainer.precision=bf16" in errors[0]
    assert errors[1].startswith("model.dtype='bfloat16' with stage1.lr=5e-05")
    assert _precision_errors(paper_cfg()) == []  # the paper's numerics pass
    # a LoRA adapter trains in float32 over a bf16 base; its bf16 biases would not
    assert _precision_errors(paper_cfg("model.dtype=bfloat16", "model.lora.r=8", "stage1.lr=1e-3")) == []
    [bias] = _precision_errors(paper_cfg("model.dtype=bfloat16", "model.lora.r=8", "model.lora.bias=all"))[:1]
    assert "the biases model.lora.bias=all trains" in bias and "model.lora.bias=none" in bias
    # an lr whose updates bf16 keeps is not refused
    assert _precision_errors(paper_cfg("model.dtype=bfloat16", "lr=1e-3", "stage1.lr=1e-3")) == []


def _precision_errors(cfg) -> list[str]:
    root = Checks(cfg)
    check_precision(root, get_objective(cfg.objective.name))
    return root.errors


def test_validate_names_the_keys_for_the_default_run():
    cfg = compose_cfg(["model.dtype=bfloat16", "lr=1e-6"])
    with pytest.raises(ConfigError, match=r"model.dtype='bfloat16' with lr=1e-06: AdamW would keep"):
        validate(cfg)


def test_paper_numerics_resume_exactly_from_fp32_checkpoints(bf16_checkpoint, tmp_path):
    cfg = paper_cfg("trainer.save_every=10", "trainer.keep_checkpoints=5")
    whole = tmp_path / "whole"
    _, end = train_run(cfg, bf16_checkpoint, whole)
    saved = load_file(str(whole / "checkpoints" / "step_10" / "model.safetensors"))
    assert {v.dtype for v in saved.values()} == {torch.float32}  # the master weights, not a bf16 copy
    optimizer = load_state(whole / "checkpoints" / "step_10" / "trainer_state")["optimizer"]["state"]
    moments = [s[k] for s in optimizer.values() for k in ("exp_avg", "exp_avg_sq")]
    assert len(moments) == 2 * len(end) and {v.dtype for v in moments} == {torch.float32}

    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step_10", resumed / "checkpoints" / "step_10")
    (resumed / "checkpoints" / "latest").write_text("step_10\n")
    _, again = train_run(cfg, bf16_checkpoint, resumed)
    for key in end:
        assert torch.equal(end[key], again[key]), key
    rows = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    back = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]

    def untimed(lines: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "train/tokens_per_s"} for r in lines]

    assert untimed([r for r in rows if r["step"] > 10]) == untimed(back)
