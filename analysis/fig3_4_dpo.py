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
# # DPO: matched step sizes (paper Fig. 3) and learning-rate sweeps per beta (Fig. 4)
#
# The paper: at matched initial step sizes, beta = 0.001 peaks (80.9% on MATH-500) then collapses (chosen and
# rejected log-probs fall together, the update norm surges); beta = 0.01 and 0.1 stay stable but lower.

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
fig = figures.family_figure(df, "fig3_dpo")
display(fig if fig is not None else Markdown("_This sweep has no run of this family._"))

# %%
fig = figures.family_figure(df, "fig4_dpo_lr")
display(fig if fig is not None else Markdown("_This sweep has no run of this family._"))

# %%
rows = summary[summary["objective"] == "dpo"]
display(Markdown(tables.summary_markdown(rows) if len(rows) else "_no runs_"))
