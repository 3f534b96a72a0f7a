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
# # Stability versus performance: peak vs final accuracy and the collapse step, per configuration
#
# `collapse_step` is the step the run recorded (the trainer's rule, `trainer.collapse`); when a run recorded none
# the same rule is replayed on its logged curves (`collapse_by` = `replay`). Log-probs: mean per token, averaged
# over the first and last five logged steps.

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
display(Markdown(tables.summary_markdown(summary)))

# %%
figures.stability_figure(df)

# %%
collapsed = summary[summary["collapse_step"].notna()]
stable = summary[summary["collapse_step"].isna()]
lines = [
    f"- **{r.config}** (seed {r.seed}): collapsed at step {r.collapse_step}; peak {r.peak_acc:.3f} at step "
    f"{r.peak_step}, final {r.final_acc:.3f}"
    for r in collapsed.itertuples()
]
lines += [
    f"- {r.config} (seed {r.seed}): no collapse; peak {r.peak_acc:.3f}, final {r.final_acc:.3f}"
    for r in stable.itertuples()
]
display(Markdown("\n".join(lines) or "_no runs_"))
