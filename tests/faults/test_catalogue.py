"""A catalogue of bad configs and bad data files: each is refused before any compute, naming the exact key or
file/line/field as the user typed it. The time each takes to fail is recorded (in <pytest base temp>/fault_timings.jsonl), not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.config import DataConfig
from redi.data.build import load_rows as load_traces
from redi.data.errors import DataError
from redi.validate import ConfigError, validate

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"

# (overrides, text the error must contain: the key as typed, and what is wrong)
BAD_CONFIGS = [
    (["lr=nan"], "lr=nan: must be a finite number"),
    (["lr=inf"], "lr=inf: must be a finite number"),
    (["lr=-1"], "lr=-1.0: must be > 0"),
    (["lr=0"], "lr=0.0: must be > 0"),
    (["objective=simpo", "beta=2", "gamma=inf"], "gamma=inf: must be a finite number"),
    (["objective=dpo", "beta=nan"], "beta=nan: must be a finite number"),
    (["alpha=nan"], "alpha=nan: must be a finite number"),
    (["alpha=1.5"], "alpha=1.5: must be <= 1"),
    (["alpha=-0.1"], "alpha=-0.1: must be >= 0"),
    (["objective=dpo", "beta=0"], "beta=0.0: must be > 0"),
    (["objective=simpo", "beta=2", "gamma=-1"], "gamma=-1.0: must be >= 0"),
    (["objective=sft", "alpha=0.5"], "alpha=0.5: objective 'sft' does not use this key"),
    (["objective=symmetric", "alpha=0.5"], "alpha=0.5: objective=symmetric is REDI with alpha = 1"),
    (["objective.name=ppo"], "objective.name: unknown objective 'ppo'"),
    (["seed=-3"], "seed=-3: must be >= 0"),
    (["mode=serve"], "mode='serve': expected one of train, eval, stage1"),
    (["stage1.lr=-1"], "stage1.lr=-1.0: must be > 0"),
    (["stage1.lr=nan"], "stage1.lr=nan: must be a finite number"),
    (["stage1.epochs=0"], "stage1.epochs=0.0: must be > 0"),
    (["stage1.micro_batch_size=0"], "stage1.micro_batch_size=0: must be >= 1"),
    (["stage1.scheduler=cosinus"], "stage1.scheduler='cosinus': expected one of"),
    (["stage1.adam_beta2=1"], "stage1.adam_beta2=1.0: must be < 1"),
    (["stage1.warmup_ratio=2"], "stage1.warmup_ratio=2.0: must be <= 1"),
    (["trainer.threads=0"], "trainer.threads=0: must be >= 1 (null keeps torch's default)"),
    (["model.liger=true"], "model.liger=true but the liger-kernel package is not installed"),
    (["model.liger=true", "trainer.device=cpu"], "model.liger=true needs a CUDA GPU"),
    (["trainer.max_grad_norm=-1"], "trainer.max_grad_norm=-1.0: must be >= 0 (0 turns clipping off)"),
    (["trainer.max_grad_norm=nan"], "trainer.max_grad_norm=nan: must be a finite number"),
    (["trainer.adam_beta1=1.0"], "trainer.adam_beta1=1.0: must be < 1"),
    (["trainer.adam_beta2=-0.5"], "trainer.adam_beta2=-0.5: must be >= 0"),
    (["trainer.adam_eps=0"], "trainer.adam_eps=0.0: must be > 0"),
    (["trainer.scheduler=warmup_cosine"], "trainer.scheduler='warmup_cosine': expected one of"),
    (["trainer.warmup_ratio=1.5"], "trainer.warmup_ratio=1.5: must be <= 1"),
    (["trainer.micro_batch_size=0"], "trainer.micro_batch_size=0: must be >= 1"),
    (["trainer.grad_accum_steps=-2"], "trainer.grad_accum_steps=-2: must be >= 1"),
    (["trainer.max_steps=0"], "trainer.max_steps=0: must be >= 1 (-1 for no cap)"),
    (["trainer.save_every=0"], "trainer.save_every=0: must be >= 1"),
    (["trainer.keep_checkpoints=0"], "trainer.keep_checkpoints=0: must be >= 1"),
    (["trainer.epochs=inf"], "trainer.epochs=inf: must be a finite number"),
    (["trainer.precision=fp8"], "trainer.precision='fp8': expected one of fp32, bf16"),
    (["trainer.device=tpu"], "trainer.device='tpu': expected one of auto, cpu, cuda"),
    (["trainer.collapse.window=0"], "trainer.collapse.window"),
    (
        ["model.arch.num_key_value_heads=3"],
        "model.arch.num_key_value_heads=3: must divide num_attention_heads=4",
    ),
    (
        ["model.arch.hidden_size=130"],
        "model.arch.hidden_size=130: must be a multiple of num_attention_heads=4",
    ),
    (["model.arch.num_hidden_layers=0"], "model.arch.num_hidden_layers=0: must be >= 1"),
    (["model.arch.vocab_size=100"], "model.arch.vocab_size=100: must be >= 259"),
    (
        ["model.arch.max_position_embeddings=64"],
        "model.arch.max_position_embeddings=64: is shorter than data.max_length",
    ),
    (["model.dtype=float8"], "model.dtype='float8': expected one of"),
    (
        ["model.dtype=bfloat16", "lr=1e-6"],
        "model.dtype='bfloat16' with lr=1e-06: AdamW would keep the trained weights and its moments in bfloat16",
    ),
    (
        ["model.dtype=bfloat16", "stage1.lr=5e-5"],
        "model.dtype='bfloat16' with stage1.lr=5e-05: AdamW would keep",
    ),
    (["model.init_from=/no/such/model"], "model.init_from: local path '/no/such/model' does not exist"),
    (["data.source=local"], "data.path: required when data.source=local"),
    (["data.source=local", "data.path=/no/such/*.jsonl"], "data.path='/no/such/*.jsonl': no file matches"),
    (["data.source=local", "data.path=/no/such.jsonl"], "data.path='/no/such.jsonl': no such file"),
    (["data.source=hub"], "data.hub_id: required when data.source=hub"),
    (["data.max_length=0"], "data.max_length=0: must be >= 1"),
    (["data.truncation=middle"], "data.truncation='middle': expected one of"),
    (["data.batching=token_budget"], "data.max_tokens_per_batch: required when data.batching=token_budget"),
    (["data.max_row_mb=0"], "data.max_row_mb=0.0: must be > 0"),
    (["data.builder.verifiers=majority"], "data.builder.verifiers='majority': expected one of"),
    (["data.builder.max_prompt_tokens=0"], "data.builder.max_prompt_tokens=0: must be >= 1"),
    (["data.synthetic.difficulty=2"], "data.synthetic.difficulty must be in [0, 1]"),
    (["data.synthetic.difficulty=nan"], "data.synthetic.difficulty=nan: must be a finite number"),
    (["eval.num_samples=0"], "eval.num_samples=0: must be >= 1"),
    (["eval.top_p=0"], "eval.top_p=0.0: must be > 0"),
    (["eval.temperature=-1"], "eval.temperature=-1.0: must be >= 0"),
    (["eval.max_new_tokens=0"], "eval.max_new_tokens=0: must be >= 1"),
    (["eval.engine=vllm"], "eval.engine=vllm but vLLM is not installed"),
    (["eval.pass_at_k=[1,8]"], "eval.pass_at_k[1]=8: must be a whole number in [1, eval.num_samples="),
    (["eval.grader.workers=0"], "eval.grader.workers=0: must be >= 1"),
    (["eval.grader.timeout_s=0"], "eval.grader.timeout_s=0.0: must be > 0"),
    (["eval.grader.extraction=last"], "eval.grader.extraction='last': expected one of boxed, latex_expr"),
    (["eval.grader.start_method=thread"], "eval.grader.start_method='thread': expected one of"),
    (["logger.wandb_mode=sometimes"], "logger.wandb_mode='sometimes': expected one of"),
    (
        ["+trainer.max_step=5"],
        "trainer.max_step=5: no such key, so nothing would read it (did you mean trainer.max_steps?)",
    ),
    (["+alhpa=0.5"], "alhpa=0.5: no such key, so nothing would read it (did you mean alpha?)"),
    (
        ["+model.arch.hiden_size=8"],
        "model.arch.hiden_size=8: no such key, so nothing would read it (did you mean model.arch.hidden_size?)",
    ),
    (
        ["hydra/launcher=slurm", "+hydra.launcher.partitio=gpu"],
        "hydra.launcher.partitio=gpu: no such key, so nothing would read it (did you mean hydra.launcher.partition?)",
    ),
    (["hydra/launcher=slurm", "hydra.launcher.timeout_min=0"], "hydra.launcher.timeout_min=0: must be >= 1"),
    (
        ["hydra/launcher=slurm", "hydra.launcher.tasks_per_node=0"],
        "hydra.launcher.tasks_per_node=0: must be >= 1",
    ),
]


@pytest.fixture
def record_time(tmp_path_factory, request):
    """Append (test, seconds to fail) to <pytest base temp>/fault_timings.jsonl: recorded, never asserted."""
    out = tmp_path_factory.getbasetemp() / "fault_timings.jsonl"

    def record(seconds: float) -> None:
        with open(out, "a") as f:
            f.write(json.dumps({"test": request.node.name, "seconds": round(seconds, 3)}) + "\n")

    return record


def make(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_catalogue_is_large_enough():
    assert len(BAD_CONFIGS) >= 50


@pytest.mark.parametrize(("overrides", "says"), BAD_CONFIGS, ids=[" ".join(o) for o, _ in BAD_CONFIGS])
def test_a_bad_config_is_refused_naming_the_key(overrides, says, record_time):
    t0 = time.perf_counter()
    cfg = make(overrides)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    record_time(time.perf_counter() - t0)
    assert says in str(err.value), str(err.value)


def test_several_errors_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        validate(make(["lr=nan", "stage1.lr=-1", "trainer.threads=0", "eval.grader.workers=0"]))
    assert len(err.value.errors) == 4 and str(err.value).startswith("4 problems in the config:")


def test_validation_imports_nothing_heavy():
    """The pre-flight runs before torch, transformers, datasets or Math-Verify are imported."""
    code = (
        "import sys; from hydra import compose, initialize_config_dir; import redi.run; "
        "from redi.validate import validate, ConfigError\n"
        f"with initialize_config_dir(config_dir={str(CONF)!r}, version_base='1.3'):\n"
        "    cfg = compose(config_name='config', overrides=['stage1.lr=-1'])\n"
        "try:\n    validate(cfg)\nexcept ConfigError as e:\n    print(e)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'math_verify', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.splitlines() == ["stage1.lr=-1.0: must be > 0", "[]"], out.stdout + out.stderr


# ---------------------------------------------------------------------------------------------------------------
# bad data files


def row(**fields) -> dict:
    base = {
        "problem": "What is 1 + 1?",
        "answer": "2",
        "generations": ["1 + 1 = \\boxed{2}", "\\boxed{3}"],
        "correctness_math_verify": [True, False],
        "correctness_llama": [True, False],
    }
    return {**base, **fields}


def jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


GOOD = json.dumps(row()).encode()
BAD_DATA = {
    # name: (file name, bytes, text the error must contain; {path} is the file)
    "non-UTF-8 byte": (
        "a.jsonl",
        jsonl(GOOD, GOOD[:20] + b"\xff\xfe" + GOOD[20:]),
        "{path}: line 2, byte 21: not UTF-8",
    ),
    "empty file": ("a.jsonl", b"", "{path}: the file is empty (0 bytes)"),
    "only blank lines": ("a.jsonl", b"\n\n  \n", "{path}: the file is empty"),
    "empty parquet": ("a.parquet", b"", "{path}: the file is empty (0 bytes)"),
    "null answer": ("a.jsonl", jsonl(row(), row(answer=None)), "{path}: line 2, field 'answer': null"),
    "cut JSON line": ("a.jsonl", jsonl(GOOD, GOOD[:30]), "{path}: line 2 is not valid JSON (column"),
    "not an object": ("a.jsonl", jsonl(GOOD, b"[1, 2]"), "{path}: line 2: expected a JSON object, got list"),
    "a number line": ("a.jsonl", jsonl(b"42"), "{path}: line 1: expected a JSON object, got int"),
    "row too large": (
        "a.jsonl",
        jsonl(GOOD, json.dumps(row(problem="x" * 600_000)).encode()),
        "{path}: line 2 is longer than data.max_row_mb=0.5",
    ),
    "file too large": (
        "big.jsonl",
        jsonl(*[GOOD] * 20000),
        "MB, more than data.max_file_mb=1; raise data.max_file_mb",
    ),
    "missing problem": (
        "a.jsonl",
        jsonl(row(problem="")),
        "{path}: row 0, column 'problem': no problem text",
    ),
    "null problem": ("a.jsonl", jsonl(row(), row(problem=None)), "{path}: row 1, column 'problem'"),
    "no generations": (
        "a.jsonl",
        jsonl(row(generations=[])),
        "{path}: row 0, column 'generations': expected a non-empty list",
    ),
    "generation not a string": (
        "a.jsonl",
        jsonl(row(generations=["ok", 7])),
        "{path}: row 0, column 'generations'[1]",
    ),
    "empty generation": (
        "a.jsonl",
        jsonl(row(generations=["ok", "  "])),
        "{path}: row 0, column 'generations'[1]: empty generation",
    ),
    "misaligned verdicts": (
        "a.jsonl",
        jsonl(row(correctness_llama=[True])),
        "{path}: row 0, column 'correctness_llama': 1 entries",
    ),
    "verdict not a bool": (
        "a.jsonl",
        jsonl(row(correctness_math_verify=[True, "yes"])),
        "{path}: row 0, column 'correctness_math_verify'[1]",
    ),
    "missing column": (
        "a.jsonl",
        jsonl({k: v for k, v in row().items() if k != "correctness_llama"}),
        "missing column(s) ['correctness_llama']",
    ),
    "verdicts not a list": (
        "a.jsonl",
        jsonl(row(correctness_llama="yes")),
        "{path}: row 0, column 'correctness_llama': expected a list",
    ),
    "wrong extension": ("a.csv", b"problem,answer\n", "has extension '.csv'"),
    "JSON array, bad row": (
        "a.json",
        json.dumps([row(), row(generations="x")]).encode(),
        "row 1, column 'generations'",
    ),
    "JSON array of strings": ("a.json", b'["a", "b"]', "{path}: missing column(s)"),
}


def test_the_data_catalogue_is_large_enough():
    assert len(BAD_DATA) >= 20


@pytest.mark.parametrize("name", sorted(BAD_DATA))
def test_a_bad_data_file_is_named_by_file_line_and_field(tmp_path, name, record_time):
    filename, content, says = BAD_DATA[name]
    path = tmp_path / filename
    path.write_bytes(content)
    cfg = DataConfig(source="local", path=str(path), max_row_mb=0.5, max_file_mb=1.0)
    t0 = time.perf_counter()
    with pytest.raises(DataError) as err:
        load_traces(cfg)
    record_time(time.perf_counter() - t0)
    assert says.format(path=path) in str(err.value), str(err.value)


def test_a_directory_as_data_path_is_named(tmp_path):
    with pytest.raises(ConfigError, match=f"data.path='{tmp_path}': is a directory"):
        validate(make(["data.source=local", f"data.path={tmp_path}"]))


# The child's own peak RSS in MB. Not getrusage's ru_maxrss: Linux carries it across exec, so a child of pytest
# reports the peak of pytest itself (1.5 GB on CI with torch loaded), whatever the child does.
PEAK_MB = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]) // 1024"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc (Linux)")
def test_a_50_mb_row_is_refused_with_bounded_memory(tmp_path):
    """The loader reads at most data.max_row_mb of a line before refusing it: the refusal adds a few MB to the
    child's peak after its imports, where reading the 50 MB line whole would add at least 50."""
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"problem": "' + b"7" * (50 * 2**20) + b'"}\n')
    code = (
        "from redi.config import DataConfig\nfrom redi.data.build import load_rows as load_traces\n"
        f"from redi.data.errors import DataError\nimported = {PEAK_MB}\n"
        f"try:\n    load_traces(DataConfig(source='local', path={str(path)!r}))\nexcept DataError as e:\n    print(e)\n"
        f"print(imported, {PEAK_MB})"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    message, peaks = out.stdout.strip().splitlines()[-2:]
    imported_mb, peak_mb = map(int, peaks.split())
    assert "line 1 is longer than data.max_row_mb=4" in message and "Raise data.max_row_mb" in message
    assert peak_mb - imported_mb < 25, (
        f"the refusal took {peak_mb - imported_mb} MB over the imports' {imported_mb}"
    )
    assert peak_mb < 1000, f"peak RSS {peak_mb} MB"
