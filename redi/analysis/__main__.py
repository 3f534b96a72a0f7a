"""``python -m redi.analysis <sweep>``: the paper's figures (PNG) and tables (markdown and CSV), without Jupyter.

<sweep> is a sweep directory, a sweep name under runs/sweeps, a committed sweep (a directory with raw/, e.g.
sweeps/<name>), or wandb:<entity>/<project>/<group>. Output goes to <sweep dir>/analysis/, or beside raw/ for a
committed sweep (``--out`` to choose; required for a W&B group).
``--export SWEEP_DIR COMMITTED_DIR`` writes the sweep's raw results into COMMITTED_DIR/raw (redi.analysis.raw), then
its tables and figures beside them from raw/ alone: running ``redi analyze COMMITTED_DIR`` again gives the same
bytes (figures carry no date or version; tables are sorted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from redi.analysis import failures as failure_kinds  # noqa: E402
from redi.analysis import figures, gains, raw, tables  # noqa: E402
from redi.analysis.load import load_sweep, runs  # noqa: E402
from redi.analysis.records import resolve_sweep  # noqa: E402

#: PNG metadata: none (matplotlib writes its version otherwise), so a figure's bytes depend on its data only.
PNG_METADATA = {"Software": None}


def stage2_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` whose run is not a stage-1 run kept in the sweep directory (mode=stage1)."""
    if "mode" not in frame:
        return frame
    return frame[frame["mode"].fillna("train") != "stage1"]


def stage1_models(frame: pd.DataFrame) -> list[str]:
    """The distinct stage-1 models (and problem sets) of ``frame``'s runs: their replicate without the stage-2 seed."""
    replicates = runs(frame)["replicate"].fillna("") if "replicate" in frame else pd.Series([], dtype=str)
    keep = (", ".join(p for p in r.split(", ") if not p.startswith("seed=")) for r in replicates)
    return sorted(set(keep))


def not_one_stage1(starts: list[str]) -> str:
    """table2.md for a sweep over several stage-1 models: Table 2's layout would average different problems."""
    lines = [
        f"Table 2 is not written for this sweep: its runs start from {len(starts)} stage-1 models, scored on "
        "problem sets of their own, and Table 2's layout averages the runs of one. The comparison is gains.md "
        "(each run paired with its replicate's control).",
        "",
        *(f"- {s}" for s in starts),
    ]
    return "\n".join(lines) + "\n"


def write_all(source: str | Path, out: Path | None = None, benchmark: str | None = None) -> list[Path]:
    """Write every figure and table of the sweep into ``out`` (default ``<sweep dir>/analysis``); returns the files."""
    resolved = resolve_sweep(source)
    if out is None:
        if isinstance(resolved, str):
            raise SystemExit("redi.analysis: a W&B source needs --out DIR")
        out = Path(resolved) if raw.has_raw(resolved) else Path(resolved) / "analysis"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = load_sweep(resolved)
    if frame.empty:
        raise SystemExit(f"redi.analysis: no runs in {resolved}")
    written: list[Path] = []
    compared = stage2_runs(
        frame
    )  # the figures and tables compare stage-2 runs; gains lists the others it left out

    def save_fig(fig, name: str) -> None:
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110, metadata=PNG_METADATA)
        written.append(path)

    for family in figures.FAMILIES:
        fig = figures.family_figure(compared, family, benchmark)
        if fig is not None:
            save_fig(fig, family.key)
    save_fig(figures.stability_figure(compared, benchmark), "stability")

    summary = tables.stability_summary(compared, benchmark)
    starts = stage1_models(compared)
    table = tables.table2(compared) if len(starts) < 2 else pd.DataFrame(columns=["config", "objective"])
    table2_md = tables.table2_markdown(table) if len(starts) < 2 else not_one_stage1(starts)
    paired = gains.gains_table(frame, benchmark)
    for name, df, md in (
        ("summary", summary, tables.summary_markdown(summary)),
        ("table2", table, table2_md),
        ("gains", paired, gains.gains_markdown(paired)),
    ):
        df.to_csv(out / f"{name}.csv", index=False)
        (out / f"{name}.md").write_text(md)
        written += [out / f"{name}.csv", out / f"{name}.md"]
    failures = failure_kinds.failures_table(compared)
    if not failures.empty:  # only where the benchmark has a classifier (the synthetic task)
        failures.to_csv(out / "failures.csv", index=False)
        (out / "failures.md").write_text(failure_kinds.failures_markdown(failures))
        written += [out / "failures.csv", out / "failures.md"]
    runs(frame).to_csv(out / "runs.csv", index=False)
    frame.to_csv(out / "curves.csv", index=False)
    written += [out / "runs.csv", out / "curves.csv"]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redi.analysis", description=__doc__.split("\n")[0])
    parser.add_argument(
        "sweep",
        nargs="?",
        help="sweep directory, sweep name under runs/sweeps, committed sweep (with raw/), or wandb:<entity>/<project>/<group>",
    )
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("SWEEP_DIR", "COMMITTED_DIR"),
        help="write SWEEP_DIR's raw results into COMMITTED_DIR/raw, then its tables and figures from them",
    )
    parser.add_argument("--out", type=Path, default=None, help="output directory (default <sweep>/analysis)")
    parser.add_argument(
        "--benchmark", default=None, help="benchmark for accuracy (default: the only one, else the mean)"
    )
    args = parser.parse_args(argv)
    if (args.sweep is None) == (args.export is None):
        parser.error("give a sweep to analyse, or --export SWEEP_DIR COMMITTED_DIR")
    try:
        if args.export:
            source, committed = args.export
            exported = raw.export_sweep(resolve_sweep(source), committed)
            written = exported + write_all(committed, args.out, args.benchmark)
        else:
            written = write_all(args.sweep, args.out, args.benchmark)
    except FileNotFoundError as e:
        print(f"redi.analysis: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
