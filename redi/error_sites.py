"""Do the teacher's negatives go wrong where the student does? (``python -m redi.diagnose --sites``)

The student's margin, in nats, between the right and the wrong continuation at the first error site of the
teacher's negatives, against the same at the student's own held-out mistakes, and how much the kinds of mistake
overlap (redi.data.synthetic.sites finds the sites and scores them).
"""

from __future__ import annotations

import random

from omegaconf import DictConfig


def _margins(model, tokenizer, items: list[tuple[str, str]]) -> tuple[list[float], int]:
    """The student's margin (nats) at each trace's first error site; items are (prompt text, trace text)."""
    from redi.data.synthetic.sites import continuation_margin, first_error_site

    margins = []
    for prompt, text in items:
        site = first_error_site(text)
        if site is not None:
            context = prompt + text[: site.offset]
            margins.append(continuation_margin(model, tokenizer, context, site.correct, site.wrong))
    return margins, len(items)


def teacher_negatives(cfg: DictConfig, n: int, seed: int) -> list[dict]:
    """``n`` of the teacher's negatives as D_Pref takes them (the first incorrect trace of a problem that also has a
    correct one), with the problem, its answer and expression and the trace's mistake kind (its error_types)."""
    from redi.data.build import load_rows as load_traces

    out = []
    for row in load_traces(cfg.data):
        verdicts = [
            bool(a) and bool(b)
            for a, b in zip(row["correctness_math_verify"], row["correctness_llama"], strict=True)
        ]
        if any(verdicts) and not all(verdicts):
            j = verdicts.index(False)
            kinds = row.get("error_types") or [None] * len(verdicts)
            out.append({"problem": row["problem"], "answer": row["answer"], "text": row["generations"][j],
                        "kind": kinds[j] or "other"})  # fmt: skip
    random.Random(seed).shuffle(out)
    return out[:n]


def error_sites(cfg: DictConfig, model, tokenizer, negatives: list[dict], problems: int) -> dict:
    """Do the teacher's negatives go wrong where the student does? Its margin at their first error sites against
    the same at its own held-out mistakes (sampled as evaluation samples), and the overlap of the mistake kinds."""
    from redi.config.checks import plain
    from redi.data.synthetic import classify_mistake, heldout_problems
    from redi.data.synthetic.sites import kind_overlap, kind_shares
    from redi.data.synthetic.teacher import teacher_config
    from redi.eval.benchmarks import Problem
    from redi.eval.evaluate import format_prompts
    from redi.grading.grader import Grader
    from redi.model.chat_templates import generation_prompt_opens_think
    from redi.model.engines import make_engine

    opens = generation_prompt_opens_think(tokenizer)
    strip = lambda t: t.removeprefix("<think>\n") if opens else t  # noqa: E731  (the prompt already opened it)
    asked = [Problem(str(i), r["problem"], r["answer"]) for i, r in enumerate(negatives)]
    teacher = list(
        zip(
            format_prompts(tokenizer, asked, cfg.data.prompt_template),
            [strip(r["text"]) for r in negatives],
            strict=True,
        )
    )
    synthetic = teacher_config({**plain(cfg.data.synthetic), "num_eval_problems": problems})
    rows = heldout_problems(synthetic)
    held = [Problem(p["id"], p["problem"], p["answer"]) for p in rows]
    prompts = format_prompts(tokenizer, held, cfg.data.prompt_template)
    gens = make_engine(cfg.eval, model, tokenizer).generate(prompts, cfg.eval.num_samples, cfg.eval.seed)
    with Grader(cfg.eval.grader) as grader:
        verdicts = iter(grader.grade([g.text for r in gens for g in r], [p.answer for p, r in zip(held, gens, strict=True) for _ in r]))  # fmt: skip
    own = [(prompt, g.text, row) for prompt, row, r in zip(prompts, rows, gens, strict=True) for g in r
           if not next(verdicts).correct]  # fmt: skip
    t_margins, t_n = _margins(model, tokenizer, teacher)
    s_margins, s_n = _margins(model, tokenizer, [(prompt, text) for prompt, text, _ in own])
    t_kinds = kind_shares(r["kind"] for r in negatives)
    s_kinds = kind_shares(classify_mistake(row["expression"], row["answer"], text, synthetic.task) or "other"
                          for _, text, row in own)  # fmt: skip
    median = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
    return {
        "teacher_negatives": t_n, "teacher_sites": len(t_margins), "teacher_margin_median": median(t_margins),
        "own_mistakes": s_n, "own_sites": len(s_margins), "own_margin_median": median(s_margins),
        "own_samples": sum(len(r) for r in gens), "teacher_kinds": t_kinds, "own_kinds": s_kinds,
        "kind_overlap": kind_overlap(t_kinds, s_kinds),
    }  # fmt: skip
