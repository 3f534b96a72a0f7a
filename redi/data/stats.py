"""Statistics of the synthetic teacher's data: ``python -m redi.data.stats [--difficulty 0.5 ...]``.

Prints traces per problem, the share of correct traces, the error types, length distributions (characters and
tokens of a byte-level BPE trained on the rows, or of ``--tokenizer``), and the builder's funnel on the rows, so a
change of the teacher's knobs can be judged before any training. docs/synthetic_teacher.md records the defaults.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from redi.config import BuilderConfig, DataConfig, SyntheticTeacherConfig


def distribution(values: Sequence[float]) -> dict[str, float]:
    """mean, p10, p50, p90 and max of ``values``."""
    if not values:
        return {}
    s = sorted(values)

    def q(p: float) -> float:
        return float(s[min(len(s) - 1, int(p * len(s)))])

    return {
        "mean": round(statistics.fmean(s), 1),
        "p10": q(0.1),
        "p50": q(0.5),
        "p90": q(0.9),
        "max": float(s[-1]),
    }


def teacher_stats(rows: list[dict], count_tokens: Callable[[list[str]], list[int]] | None) -> dict[str, Any]:
    """The numbers the report prints, as a dict (also what ``--json`` writes)."""
    n_traces = collections.Counter(len(r["generations"]) for r in rows)
    marks = [m for r in rows for m in r["correctness_math_verify"]]
    errors = collections.Counter(e or "none" for r in rows for e in r["error_types"])
    per_row = collections.Counter(
        "all correct" if all(r["correctness_math_verify"]) else "none correct" if not any(r["correctness_math_verify"])
        else "some correct"
        for r in rows
    )  # fmt: skip
    terms = collections.Counter(len(re.findall(r"\d+", r["expression"])) for r in rows)
    gens = [
        (g, ok) for r in rows for g, ok in zip(r["generations"], r["correctness_math_verify"], strict=True)
    ]
    out: dict[str, Any] = {
        "problems": len(rows),
        "traces": len(marks),
        "traces_per_problem": dict(sorted(n_traces.items())),
        "share_correct": round(sum(marks) / len(marks), 4),
        "problems_by_verdicts": dict(per_row),
        "error_types": dict(errors.most_common()),
        "kinds": dict(collections.Counter(r["source"] for r in rows)),
        "terms_per_problem": dict(sorted(terms.items())),
        "chars_correct": distribution([len(g) for g, ok in gens if ok]),
        "chars_incorrect": distribution([len(g) for g, ok in gens if not ok]),
    }
    if count_tokens is not None:
        tokens = count_tokens([g for g, _ in gens])
        out["tokens_correct"] = distribution([t for t, (_, ok) in zip(tokens, gens, strict=True) if ok])
        out["tokens_incorrect"] = distribution([t for t, (_, ok) in zip(tokens, gens, strict=True) if not ok])
        out["tokens_problem"] = distribution(count_tokens([r["problem"] for r in rows]))
    return out


def _token_counter(
    rows: list[dict], tokenizer_path: str | None, vocab_size: int
) -> Callable[[list[str]], list[int]]:
    if tokenizer_path:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer_path)
    else:  # the same kind of tokenizer the tiny model trains (redi.model.load), on these rows
        from redi.model.load import train_tokenizer

        tok = train_tokenizer(
            (t for r in rows for t in [r["problem"], *r["generations"]]), vocab_size, "chatml_think"
        )
    return lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def format_report(stats: dict[str, Any], funnel: dict[str, int] | None, heldout: int) -> str:
    lines = ["synthetic teacher"]
    for key, value in stats.items():
        lines.append(f"  {key:<22} {value}")
    lines.append(f"  {'heldout_problems':<22} {heldout} (no expression shared with training)")
    if funnel:
        from redi.data.funnel import format_funnel

        lines += ["builder funnel on these rows", format_funnel(funnel)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-problems", type=int, default=SyntheticTeacherConfig.num_problems)
    parser.add_argument("--difficulty", type=float, default=SyntheticTeacherConfig.difficulty)
    parser.add_argument("--error-rate", type=float, default=SyntheticTeacherConfig.error_rate)
    parser.add_argument(
        "--error-concentration", type=float, default=SyntheticTeacherConfig.error_concentration
    )
    parser.add_argument("--seed", type=int, default=SyntheticTeacherConfig.seed)
    parser.add_argument(
        "--tokenizer", help="a tokenizer directory to count tokens with (default: train a BPE)"
    )
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--json", help="also write the statistics to this file")
    args = parser.parse_args(argv)

    from redi.data.build import build_rows
    from redi.data.synthetic import generate_teacher_rows, heldout_problems

    cfg = replace(
        SyntheticTeacherConfig(),
        num_problems=args.num_problems,
        difficulty=args.difficulty,
        error_rate=args.error_rate,
        error_concentration=args.error_concentration,
        seed=args.seed,
    )
    rows = generate_teacher_rows(cfg)
    count = _token_counter(rows, args.tokenizer, args.vocab_size)
    stats = teacher_stats(rows, count)

    from redi.data.sources.files import rows_table

    data_cfg = DataConfig(source="synthetic", synthetic=cfg, builder=BuilderConfig(decontaminate=False))
    funnel = build_rows(data_cfg, count, None, table=rows_table(rows)).funnel
    heldout = len(heldout_problems(cfg))
    print(format_report(stats, funnel, heldout))
    result = {"config": vars(args), "stats": stats, "funnel": funnel, "heldout_problems": heldout}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
