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
# # Table 2 layout: the best checkpoint per configuration, per benchmark, with standard error
#
# pass@1 in percent (the mean over the evaluation's samples) ± its standard error; the best checkpoint is the
# evaluation step with the highest average over benchmarks (seeds averaged first). The first row is the
# starting (stage-1) model, evaluated at step 0 of every preference run.

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from redi.analysis import load_sweep, tables

# %% tags=["parameters"]
# The one parameter: a committed sweep (sweeps/<name>, read from its raw/), a sweep directory, a sweep name under
# runs/sweeps, or "wandb:<entity>/<project>/<group>".
sweep = "sweeps/main_job_calibration"

# %%
df = load_sweep(sweep)
summary = tables.stability_summary(df)
print(f"{df['run'].nunique()} runs, {len(df)} (run, step) rows from {df.attrs['source']}")

# %%
table = tables.table2(df)
display(Markdown(tables.table2_markdown(table)))

# %%
display(table)
