# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Symmetric (alpha = 1) vs asymmetric REDI (paper Fig. 6)
#
# The paper: alpha = 1 at lr 1e-6 peaks (80.8%) then collapses; at 1e-7 it is stable but lower; alpha = 0.8 at
# 1e-6 learns fast and stays stable. Shown: every alpha = 1 run and the runs at the largest alpha below 1.

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from redi.analysis import figures, load_sweep, tables

# %% tags=["parameters"]
# The one parameter: a committed sweep (sweeps/<name>, read from its raw/), a sweep directory, a sweep name under
# runs/sweeps, or "wandb:<entity>/<project>/<group>".
sweep = "sweeps/main_job_calibration"

# %%
df = load_sweep(sweep)
summary = tables.stability_summary(df)
print(f"{df['run'].nunique()} runs, {len(df)} (run, step) rows from {df.attrs['source']}")

# %%
fig = figures.family_figure(df, "fig6_symmetric")
display(fig if fig is not None else Markdown("_This sweep has no run of this family._"))

# %%
rows = summary[(summary["objective"] == "redi") & (summary["alpha"] >= 0.8)]
display(Markdown(tables.summary_markdown(rows) if len(rows) else "_no runs_"))
