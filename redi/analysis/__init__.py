"""Analysis of sweeps: a tidy table of runs x steps x metrics (run directories or W&B), the paper's figures, tables.

    from redi.analysis import load_sweep, figures, tables
    df = load_sweep("runs/sweeps/cpu_ablation")          # or "wandb:<entity>/<project>/<group>"
    figures.family_figure(df, "fig7_alpha")

``python -m redi.analysis <sweep>`` writes every figure and table into ``<sweep>/analysis/``.
"""

from redi.analysis.load import RUN_COLUMNS, benchmarks, load_sweep, long_form, runs

__all__ = ["RUN_COLUMNS", "benchmarks", "load_sweep", "long_form", "runs"]
