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
# # SimPO: (beta, gamma, lr) = (2, 1, 5e-7) vs (10, 5, 3e-7) (paper Fig. 5)
#
# The paper: both eventually collapse; beta = 10 later, with a slightly lower peak.

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
fig = figures.family_figure(df, "fig5_simpo")
display(fig if fig is not None else Markdown("_This sweep has no run of this family._"))

# %%
rows = summary[summary["objective"] == "simpo"]
display(Markdown(tables.summary_markdown(rows) if len(rows) else "_no runs_"))
