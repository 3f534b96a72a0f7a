"""The model card (objective, hyperparameters, data funnel, evaluation table) and the push to a local target
(a directory or a file:// URL: the hub cannot be reached here)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from redi.config import Config, HubConfig
from redi.infra.publish import check_hub, model_card, push
from redi.model.load import build_tiny_model, save_model, train_tokenizer


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "redi_a0.8"
    (run / ".hydra").mkdir(parents=True)
    cfg = OmegaConf.structured(Config)
    cfg.objective = {"name": "redi", "alpha": 0.8}
    cfg.alpha, cfg.lr = 0.8, 2e-5
    cfg.model.lora.r = 4
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    status = {"state": "completed", "step": 60, "objective": "redi", "hyperparameters": {"alpha": 0.8},
              "data_funnel": {"rows_loaded": 10000, "pair_rows": 3121}}  # fmt: skip
    (run / "status.json").write_text(json.dumps(status))
    rows = [{"step": 0, "eval/synthetic/pass@1": 0.5842, "eval/synthetic/pass@1_sem": 0.009},
            {"step": 10, "train/loss": 1.0}, {"step": 60, "eval/synthetic/pass@1": 0.5361, "eval/synthetic/pass@1_sem": 0.011}]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = train_tokenizer(["1 + 1 = 2"] * 10, vocab_size=300, chat_template="auto")
    from redi.config import TinyArchConfig

    arch = TinyArchConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=32,
    )
    save_model(build_tiny_model(arch, tok, 0), tok, run / "model")
    (run / "adapter").mkdir()
    (run / "adapter" / "adapter_config.json").write_text('{"r": 4}')
    return run


def test_the_card_says_objective_hyperparameters_funnel_and_evaluation(run_dir):
    card = model_card(run_dir)
    assert card.startswith("---\nlibrary_name: transformers\n") and "- redi\n" in card and "- lora\n" in card
    assert "objective **redi**" in card and "run ended **completed** at step 60" in card
    assert "| alpha | 0.8 |" in card and "| lr | 2e-05 |" in card and "| LoRA | r=4 alpha=16.0" in card
    assert "| rows_loaded | 10000 |" in card and "| pair_rows | 3121 |" in card
    assert "| 0 | 0.584 ± 0.009 |" in card and "| 60 | 0.536 ± 0.011 |" in card and "| 10 |" not in card


@pytest.mark.parametrize("url", [False, True])
def test_push_to_a_local_target_writes_weights_card_and_adapter(run_dir, tmp_path, url):
    target = tmp_path / "pushed"
    where = push(run_dir, HubConfig(push=True, repo_id=f"file://{target}" if url else str(target)))
    assert where == str(target)
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert (target / "README.md").read_text() == model_card(run_dir)
    assert (target / "adapter" / "adapter_config.json").is_file()


def test_push_needs_a_repo_id_and_a_saved_model(tmp_path):
    with pytest.raises(ValueError, match="hub.push=true needs hub.repo_id"):
        check_hub(HubConfig(push=True))
    with pytest.raises(FileNotFoundError, match="no saved model to push"):
        push(tmp_path, HubConfig(push=True, repo_id=str(tmp_path / "x")))


def test_the_card_shows_the_curve_subset_in_its_own_column(tmp_path):
    """A run with eval.curve_limit: curve points in the subset column, the final in both."""
    from redi.infra.publish import eval_table

    rows = [{"step": 0, "eval/s/curve/pass@1": 0.2, "eval/s/curve/pass@1_sem": 0.01},
            {"step": 8, "eval/s/pass@1": 0.12, "eval/s/curve/pass@1": 0.21}]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert eval_table(tmp_path) == [
        "| step | s | s (curve subset) |",
        "|---|---|---|",
        "| 0 | - | 0.200 ± 0.010 |",
        "| 8 | 0.120 | 0.210 |",
    ]
