"""The synthetic teacher: arithmetic problems with several step-by-step traces each, some with realistic mistakes.

Why it looks like this (docs/synthetic_teacher.md has the measurements): the CPU stand-in for DeepSeek-R1 traces must
give a tiny model a task it learns partly but not fully, and negatives whose mistakes are the kind the student makes.
So a problem is an expression of 2-5 terms with +, -, * (parentheses at higher difficulty), sometimes wrapped in a
short story; a trace restates the expression, does one operation per line with its column work written out
lowest digit first ("58 + 67 [8+7=15 5+6+1=12] = 125", the way an early CPU probe of this project made addition
learnable for a 0.7M-parameter model: a one-shot "58 + 67 = 125" is not learned in a CPU budget) and ends in
\\boxed{}.
A mistake (dropped carry, sign slip, wrong precedence, dropped term) changes an intermediate result that later lines
build on, so it changes the final answer and many tokens, and it falls preferentially on hard problems and hard
steps (carries, products, many terms); a dropped carry shows in the column work, as a student's would. Two more
failure modes have no answer at all: stopping early, truncation.
Every trace is then marked by the project's grader (redi.grading.grader) against the true answer, and the rows come out in
the Open-R1 schema so the same builder makes D_SFT and D_Pref from them.

The package's modules: ``columns`` (expressions, column work, formatting), ``problems`` (sampling, phrasing, the
held-out split), ``errors`` (traces and the error types), ``shortcut`` (the shortcut task's traces), ``teacher`` (settings, rows, held-out problems) and
``classify`` (reading a trace back).
"""

from redi.data.synthetic.classify import MISTAKE_KINDS, classify_mistake, parse_expression, shortcut_counts
from redi.data.synthetic.columns import (
    OPS,
    Num,
    Step,
    Token,
    carry_columns,
    carry_deltas,
    column_slips,
    column_work,
    final_value,
    format_step,
    format_tokens,
    magnitude_form,
    solve,
    worked_value,
)
from redi.data.synthetic.errors import ERROR_TYPES, Trace, make_traces, misread_number
from redi.data.synthetic.problems import Problem, hardness, is_heldout
from redi.data.synthetic.shortcut import has_column_work, make_shortcut_traces, wrong_shortcut_values
from redi.data.synthetic.teacher import (
    TASKS,
    generate_teacher_rows,
    grade_traces,
    heldout_problems,
    validate_teacher_config,
)

__all__ = [
    "ERROR_TYPES",
    "MISTAKE_KINDS",
    "OPS",
    "Num",
    "Problem",
    "Step",
    "Token",
    "TASKS",
    "Trace",
    "carry_columns",
    "carry_deltas",
    "classify_mistake",
    "column_slips",
    "column_work",
    "final_value",
    "format_step",
    "format_tokens",
    "generate_teacher_rows",
    "grade_traces",
    "hardness",
    "has_column_work",
    "heldout_problems",
    "is_heldout",
    "magnitude_form",
    "make_shortcut_traces",
    "make_traces",
    "misread_number",
    "parse_expression",
    "shortcut_counts",
    "solve",
    "validate_teacher_config",
    "worked_value",
    "wrong_shortcut_values",
]
