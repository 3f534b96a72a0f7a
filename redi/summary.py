"""The short report a run ends with: its state, accuracy at the start and the end, its control, where it is."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def format_summary(result, cfg: DictConfig, control: list[str] | None = None) -> str:
    """The short report printed at the end of a run (``control``: the lines about its control, redi.control)."""
    lines = [
        f"redi: {cfg.objective.name} run {result.state}"
        + (" (already finished earlier)" if result.skipped else "")
        + (f" in {result.seconds:.0f}s" if result.seconds else "")
    ]

    if result.start_metrics:
        lines += accuracy_lines("the starting model", 0, result.start_metrics)
    lines += accuracy_lines("the result", result.step, result.final_metrics)
    from redi.eval.paired import format_gain_metrics

    if gain := format_gain_metrics(result.final_metrics):
        lines.append(f"  gain over the starting model (same problems): {gain}")
    lines += control or []
    lines.append(f"  status: {result.state}" + (f" ({result.reason})" if result.reason else ""))
    lines.append(f"  run directory: {result.run_dir}")
    lines.append(f"  W&B: {result.wandb or 'off'}")
    if checks := OmegaConf.select(cfg, "experiment.checks", default=""):
        lines.append(f"  experiment {cfg.experiment.name} checks {checks}")
    return "\n".join(lines)


def accuracy_lines(what: str, step: int, metrics: dict[str, float]) -> list[str]:
    """``accuracy of <what> (pass@1, step N[, which problems]): <bench> 0.586 ± 0.011``, one line per problem set.

    A run with ``eval.curve_limit`` logs the curve subset (``eval/<bench>/curve/*``) at every evaluation and all
    the problems (``eval/<bench>/*``) at the final one: each set gets its own line, saying which it is.
    """
    from redi.eval.metrics import curve_prefix, evaluated_benchmarks

    benches = evaluated_benchmarks(metrics)
    curve = {b: f"{curve_prefix(b)}/" for b in benches if f"{curve_prefix(b)}/pass@1" in metrics}
    sets = [("curve", curve)] if curve else []
    plain = {b: f"eval/{b}/" for b in benches if f"eval/{b}/pass@1" in metrics}
    if plain or not curve:
        sets.append(("all", plain))
    lines = []
    for kind, prefixes in sets:
        parts = []
        for bench, prefix in prefixes.items():
            value, sem = metrics[prefix + "pass@1"], metrics.get(prefix + "pass@1_sem")
            parts.append(f"{bench} {value:.3f}" + (f" ± {sem:.3f}" if sem is not None else ""))
        if kind == "curve":
            counts = sorted(
                {int(metrics[p + "problems"]) for p in prefixes.values() if p + "problems" in metrics}
            )
            which = f", the first {'/'.join(map(str, counts))} problems (eval.curve_limit)"
        else:
            which = ", all problems" if curve else ""
        lines.append(
            f"  accuracy of {what} (pass@1, step {step}{which}): {', '.join(parts) or 'not evaluated'}"
        )
    return lines
