"""Cheap checks of whether a pair set can carry the paper's signal for a stage-1 model, before any sweep.

``python -m redi.diagnose [overrides ...] [--model DIR] [--control]`` composes the run's config from the same
Hydra overrides as ``redi.run`` (e.g. ``data=synthetic_shortcut``), loads the stage-1 model (the cached one for the
config unless ``--model``) and the pairs it would train on, and prints:

- the per-token log-prob of the rejected and the chosen traces and their ratio (aim <= 2x: the negatives are
  traces the student could have written, as in the paper where both start near -0.35 to -0.4);
- the gradient norm of the negative term over the positive term's (aim <= 2);
- how one optimizer step of REDI alpha 0.8 and of alpha 0 (the control) moves the student's behaviour, on 3
  batches: its shortcut probability at the branch after ``a op b`` (teacher-forced on held-out correct traces), the
  log-prob of the shortcut token there, and the per-token log-prob of held-out correct traces;
- with ``--control``: the control's gain over the stage-2 budget (a REDI alpha 0 run of the harness, evaluated at
  its start and end), as a paired difference over problems with its standard error (aim < 1 point: stage 1 is at a
  plateau, so a gain of alpha > 0 is the negatives' and not more SFT).
Why these: docs/synthetic_teacher.md (the column task fails all three) and the literature on negatives in preference
optimisation (Razin et al., likelihood displacement, arXiv 2410.08847; Pal et al., DPO-Positive, arXiv 2402.13228).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from redi.error_sites import error_sites, teacher_negatives

CONF = Path(__file__).resolve().parents[1] / "conf"


@dataclass
class Probe:
    """Teacher-forced branch sites on held-out correct traces.

    batch: the traces; sites: (row, position) of the token *before* the branch (the logits there predict it);
    shortcut_ids / work_ids: token ids whose text starts with `` =`` (the shortcut) / `` [`` (the column work).
    """

    batch: object
    sites: list[tuple[int, int]]
    shortcut_ids: list[int]
    work_ids: list[int]


def compose_config(overrides: list[str]) -> DictConfig:
    """The run's config for these Hydra overrides, as ``python -m redi.run`` would compose it."""
    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers the schemas and resolvers)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def load_student(cfg: DictConfig, model_dir: str | None):
    """(model, tokenizer) of the stage-1 model: ``model_dir`` or the cached one for ``cfg`` (which must exist)."""
    from redi.infra.status import Status
    from redi.model.load import load_model, load_tokenizer
    from redi.model.source import ModelSource
    from redi.stages.stage1 import stage1_dir

    if model_dir is None:
        directory = stage1_dir(cfg)
        if not Status(directory).finished:
            raise SystemExit(
                f"redi.diagnose: no finished stage-1 model for this config in {directory}; build it with "
                "`python -m redi.run mode=stage1 <the same overrides>` or pass --model DIR"
            )
        model_dir = str(directory / "model")
    source = ModelSource("dir", model_dir)
    return load_model(source, cfg.model, torch.device("cpu")), load_tokenizer(source, cfg.model)


def pair_rows(cfg: DictConfig, tokenizer):
    """The tokenised pairs a preference run of ``cfg`` trains on."""
    from redi.inputs.rows import training_rows
    from redi.objectives import get_objective
    from redi.stages.stage1 import stage1_dir

    return training_rows(cfg, get_objective("redi"), tokenizer, stage1=stage1_dir(cfg))


def logprob_gap(model, rows, indices: list[int], pad_id: int, batch: int = 32) -> tuple[float, float]:
    """Mean per-token log-prob of the chosen and the rejected traces over ``indices`` (no gradient)."""
    from redi.data.tokenize import collate_rows
    from redi.loop.logprobs import policy_logps

    chosen, rejected = [], []
    with torch.no_grad():
        for i in range(0, len(indices), batch):
            out = policy_logps(model, collate_rows(rows, indices[i : i + batch], pad_id))
            chosen.append(out.chosen_mean)
            rejected.append(out.rejected_mean)
    return float(torch.cat(chosen).mean()), float(torch.cat(rejected).mean())


def grad_norm_ratio(model, rows, indices: list[int], pad_id: int) -> float:
    """||grad of mean rejected per-token log-prob|| / ||grad of mean chosen per-token log-prob|| over ``indices``."""
    from redi.data.tokenize import collate_rows
    from redi.loop.logprobs import policy_logps

    params = [p for p in model.parameters() if p.requires_grad]
    out = policy_logps(model, collate_rows(rows, indices, pad_id))
    g_pos = torch.autograd.grad(out.chosen_mean.mean(), params, retain_graph=True)
    g_neg = torch.autograd.grad(out.rejected_mean.mean(), params)
    norm = lambda gs: math.sqrt(sum(float(g.pow(2).sum()) for g in gs))  # noqa: E731
    return norm(g_neg) / norm(g_pos)


def make_probe(cfg: DictConfig, tokenizer, n: int) -> Probe:
    """Branch sites of ``n`` held-out problems' correct traces (written with column work, as the teacher does)."""
    from redi.config.checks import plain
    from redi.data.synthetic import heldout_problems, make_traces, parse_expression
    from redi.data.synthetic.columns import format_tokens
    from redi.data.synthetic.problems import Problem
    from redi.data.synthetic.teacher import teacher_config
    from redi.data.tokenize import Encoded, Encoder, TokenizationSettings, collate

    teacher = teacher_config({**plain(cfg.data.synthetic), "num_eval_problems": n})
    rng = random.Random(0)
    settings = TokenizationSettings(
        prompt_template=cfg.data.prompt_template,
        max_length=cfg.data.max_length,
        truncation=cfg.data.truncation,
        chat_template=cfg.model.chat_template,
    )
    encoder = Encoder(tokenizer, settings)
    seqs, sites = [], []
    for row in heldout_problems(teacher):
        tokens = tuple(parse_expression(row["expression"]))
        problem = Problem(tokens, row["problem"], "arithmetic")
        assert format_tokens(tokens) == row["expression"]
        text = make_traces(problem, 1, 0.0, teacher, rng)[0].text
        prompt = encoder.prompt_ids([row["problem"]])[0]
        response = encoder.response_ids([text])[0]
        ids = prompt + response
        # a branch follows "a op b" where the trace continues with " [": find those token positions
        for pos in range(len(prompt), len(ids) - 1):
            if tokenizer.decode(ids[pos + 1 : pos + 2]).startswith(" ["):
                sites.append((len(seqs), pos))
        seqs.append(Encoded(ids, len(prompt), False))
    vocab = {i: tokenizer.decode([i]) for i in range(len(tokenizer))}
    return Probe(
        batch=collate(seqs, tokenizer.pad_token_id or 0),
        sites=sites,
        shortcut_ids=[i for i, s in vocab.items() if s.startswith(" =")],
        work_ids=[i for i, s in vocab.items() if s.startswith(" [")],
    )


def probe_behaviour(model, probe: Probe) -> dict[str, float]:
    """Shortcut probability at the branch sites (mean), its mean log-prob, and held-out correct traces' per-token
    log-prob."""
    from redi.loop.logprobs import sequence_logps

    b = probe.batch
    with torch.no_grad():
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask, use_cache=False).logits
        rows = torch.tensor([r for r, _ in probe.sites])
        cols = torch.tensor([c for _, c in probe.sites])
        logp = torch.log_softmax(logits[rows, cols].float(), dim=-1)
        shortcut = torch.logsumexp(logp[:, probe.shortcut_ids], dim=-1)
        logps, lengths = sequence_logps(model, b)
    return {
        "shortcut_p": float(shortcut.exp().mean()),
        "shortcut_logp": float(shortcut.mean()),
        "heldout_logp": float((logps / lengths).mean()),
    }


def one_step_effect(model, rows, indices: list[int], pad_id: int, alpha: float, lr: float, probe: Probe):
    """The probe's change after one AdamW step (clip 1.0) of REDI ``alpha`` on the pairs ``indices``."""
    from redi.data.tokenize import collate_rows
    from redi.loop.logprobs import policy_logps
    from redi.objectives.redi import redi_loss

    student = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=1e-4)
    before = probe_behaviour(student, probe)
    loss = redi_loss(policy_logps(student, collate_rows(rows, indices, pad_id)), None, alpha).loss()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    optimizer.step()
    after = probe_behaviour(student, probe)
    return {k: after[k] - before[k] for k in before}


def control_gain(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """The harness's REDI alpha 0 run for ``cfg`` (evaluated at start and end): gain and paired standard error."""
    from redi.run import run

    with open_dict(cfg):
        cfg.objective.alpha = 0.0
        cfg.alpha = 0.0
        cfg.eval.at_start = True
        cfg.eval.every_n_steps = 0
        cfg.logger.wandb_mode = "disabled"
    result = run(cfg, run_dir)
    return paired_gain_from_run(run_dir, result.step) | {"steps": result.step}


def paired_gain_from_run(run_dir: Path, final_step: int) -> dict[str, float]:
    """End minus start pass@1 of one run, paired by problem: mean and standard error over problems."""
    scores = []
    for step in (0, final_step):
        per: dict[str, list[bool]] = {}
        for line in (run_dir / "eval" / f"step_{step}.jsonl").read_text().splitlines():
            r = json.loads(line)
            per.setdefault(r["prompt_id"], []).append(bool(r["correct"]))
        scores.append({k: sum(v) / len(v) for k, v in per.items()})
    diffs = [scores[1][k] - scores[0][k] for k in scores[0]]
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / max(1, len(diffs) - 1)
    return {
        "start": sum(scores[0].values()) / len(diffs),
        "end": sum(scores[1].values()) / len(diffs),
        "gain": mean,
        "gain_se": math.sqrt(var / len(diffs)),
    }


def diagnose(cfg: DictConfig, model, tokenizer, args: argparse.Namespace) -> dict:
    """All the checks for one stage-1 model and pair set; returns the numbers printed by :func:`report`."""
    torch.manual_seed(args.seed)
    pad_id = tokenizer.pad_token_id or 0
    rows = pair_rows(cfg, tokenizer)
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    sample = order[: args.pairs]
    chosen, rejected = logprob_gap(model, rows, sample, pad_id)
    out: dict = {"pairs": len(rows), "chosen_logp": chosen, "rejected_logp": rejected}
    out["logp_ratio"] = rejected / chosen
    out["grad_ratio"] = grad_norm_ratio(model, rows, sample[: args.grad_pairs], pad_id)
    probe = make_probe(cfg, tokenizer, args.probe_problems)
    out["probe_sites"] = len(probe.sites)
    out["start"] = probe_behaviour(model, probe)
    batches = [order[args.pairs + i * args.batch : args.pairs + (i + 1) * args.batch] for i in range(3)]
    out["one_step"] = {
        str(alpha): [one_step_effect(model, rows, b, pad_id, alpha, args.lr, probe) for b in batches]
        for alpha in (0.0, 0.8)
    }
    if args.sites:
        negatives = teacher_negatives(cfg, args.pairs, args.seed)
        out["sites"] = error_sites(cfg, model, tokenizer, negatives, args.probe_problems)
    if args.control:
        out["control"] = control_gain(cfg, Path(args.control_dir))
    return out


def report(out: dict, lr: float) -> str:
    """The numbers as lines a person reads, each with its aim."""
    lines = [
        f"pairs: {out['pairs']}",
        f"per-token log-prob chosen {out['chosen_logp']:.3f}, rejected {out['rejected_logp']:.3f}: "
        f"ratio {out['logp_ratio']:.2f}x (aim <= 2x)",
        f"gradient norm negative / positive term: {out['grad_ratio']:.2f} (aim <= 2)",
        f"student at the {out['probe_sites']} held-out branch sites: shortcut probability "
        f"{out['start']['shortcut_p']:.4f}, held-out correct traces {out['start']['heldout_logp']:.4f} nats/token",
    ]
    for alpha, effects in out["one_step"].items():
        sp = ", ".join(f"{e['shortcut_p']:+.4f}" for e in effects)
        sl = ", ".join(f"{e['shortcut_logp']:+.3f}" for e in effects)
        hl = ", ".join(f"{e['heldout_logp']:+.4f}" for e in effects)
        lines.append(
            f"one step of alpha {alpha} at lr {lr:g} (3 batches): shortcut probability {sp}; "
            f"its log-prob {sl}; held-out correct log-prob {hl}"
        )
    if "sites" in out:
        s = out["sites"]
        lines.append(
            f"error sites: the student's margin log p(correct) - log p(wrong) at the first wrong step of "
            f"{s['teacher_sites']} of {s['teacher_negatives']} teacher negatives: median {s['teacher_margin_median']:+.2f} "
            f"nats; at {s['own_sites']} of its own {s['own_mistakes']} held-out mistakes ({s['own_samples']} samples): "
            f"median {s['own_margin_median']:+.2f} nats (aim: alike); mistake kinds overlap {s['kind_overlap']:.2f} "
            f"(teacher {_top(s['teacher_kinds'])}; student {_top(s['own_kinds'])})"
        )
    if "control" in out:
        c = out["control"]
        lines.append(
            f"control (alpha 0) over the stage-2 budget ({c['steps']} steps): pass@1 {c['start']:.4f} -> "
            f"{c['end']:.4f}, gain {100 * c['gain']:+.2f} +- {100 * c['gain_se']:.2f} points (aim < 1 point)"
        )
    return "\n".join(lines)


def _top(shares: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in list(shares.items())[:n]) or "none"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m redi.diagnose", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m redi.run")
    parser.add_argument("--model", help="a stage-1 model directory (default: the cached one for the config)")
    parser.add_argument("--pairs", type=int, default=256, help="pairs for the log-prob gap")
    parser.add_argument("--grad-pairs", type=int, default=64, help="pairs for the gradient-norm ratio")
    parser.add_argument("--batch", type=int, default=32, help="pairs per one-step batch")
    parser.add_argument("--lr", type=float, default=1e-4, help="lr of the one-step probe")
    parser.add_argument(
        "--probe-problems", type=int, default=200, help="held-out problems for the branch probe"
    )
    parser.add_argument("--control", action="store_true", help="also run the alpha 0 control (minutes)")
    parser.add_argument(
        "--sites", action="store_true", help="also compare the negatives' error sites with the student's own"
    )
    parser.add_argument("--control-dir", default="runs/diagnose/control", help="where the control run goes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose_config(args.overrides)
    from redi.infra.distributed import DistEnv
    from redi.stages import stage1, teacher, training

    def stage1_model(config, env):
        return stage1.ensure(config, env, training.run)

    teacher.ensure(cfg, DistEnv(), stage1_model)  # data.synthetic.teacher=model: its traces (cached)
    model, tokenizer = load_student(cfg, args.model)
    out = diagnose(cfg, model, tokenizer, args)
    print(report(out, args.lr), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
