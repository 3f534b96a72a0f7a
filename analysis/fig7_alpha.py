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
# # The alpha sweep (paper Fig. 7), one row per learning rate
#
# The paper: alpha = 0.2 stays near the SFT level; 0.5 peaks near 79.8%; 0.8 is best, its log-probs decline
# steadily ("benign"). alpha = 0 (SFT on the positives only) is the control when the sweep has it.

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
fig = figures.family_figure(df, "fig7_alpha")
display(fig if fig is not None else Markdown("_This sweep has no run of this family._"))

# %%
rows = summary[summary["objective"] == "redi"]
display(Markdown(tables.summary_markdown(rows) if len(rows) else "_no runs_"))
