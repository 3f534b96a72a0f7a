"""The data build at OpenR1-Math-Raw's size: redi's builder against the authors' preprocessing, side by side.

    flock /work/bigmem.lock nice -n 8 python benchmarks/data_build_scale.py \\
        [--fractions 0.1,0.5,1.0] [--seed 0] [--workdir DIR] [--sides peer,redi]

For every fraction (of benchmarks/openr1_raw_synth.py's 516,499 rows, generated once into the workdir and kept)
it runs the peer (benchmarks/data_build_peer.py: the authors' scripts' approach) and redi's build
(``redi.data.build.build_training_data`` with ``data=openr1_raw data.source=local data.path=...``, as a run
builds it), interleaved (the side that goes first alternates), each in a fresh subprocess with its own empty
Hugging Face datasets cache and output folder (deleted afterwards; their disk use is reported). It samples the
resident memory of the whole process tree (worker processes included) every 0.25 s: peak RSS (summed over the
tree, so pages shared by forked workers count once per process) and peak anonymous memory (what cannot be paged
out). Both count lengths with the same tokenizer: a byte-level BPE (redi's ``train_tokenizer``, Qwen2.5's vocabulary
size asked for) trained on the generator's own text and cached; its bytes per token on traces is printed. Both
must keep the same D_SFT and D_Pref ids in the same order; the table says whether they did.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import openr1_raw_synth as synth  # noqa: E402

VOCAB_SIZE = 151_936  # Qwen2.5's


# ---------------------------------------------------------------------------------------------------------------
# inputs: the generated data and the counting tokenizer


def ensure_data(workdir: Path, cfg: synth.SynthConfig) -> tuple[Path, dict]:
    """The generated data for ``cfg`` (made once and kept in ``workdir``): its folder and manifest."""
    seed, rows, fraction = cfg.seed, cfg.rows, cfg.fraction
    out = workdir / f"synth-s{seed}-r{rows}-f{fraction:g}-p{cfg.pool_size}"
    manifest = synth.read_manifest(out)
    if manifest is None or manifest["config"] != dataclasses.asdict(cfg):
        manifest = synth.generate(cfg, out, log=lambda line: print(f"  {line}", flush=True))
    return out, manifest


def ensure_tokenizer(workdir: Path, seed: int, pool_size: int) -> Path:
    """A byte-level BPE trained on the generator's paragraphs and problems (cached in the workdir)."""
    target = workdir / f"tokenizer-s{seed}-p{pool_size}"
    if (target / "tokenizer.json").is_file():
        return target
    import random

    from redi.model.load import train_tokenizer

    pool = synth.ParagraphPool(seed, pool_size)
    rng = random.Random(seed)
    problems = [
        synth.problem(rng, s, rng.random() < 0.1, rng.randint(12, 120)) for s in synth.SOURCE_NAMES * 2000
    ]
    train_tokenizer(pool.texts + problems, VOCAB_SIZE, "chatml_think").save_pretrained(str(target))
    return target


def bytes_per_token(tokenizer_dir: Path, files: list[Path], traces: int = 400) -> float:
    """Bytes per token of the first ``traces`` generations of the data under the counting tokenizer."""
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    texts: list[str] = []
    for batch in pq.ParquetFile(files[0]).iter_batches(batch_size=200, columns=["generations"]):
        texts += [t for gens in batch.column(0).to_pylist() for t in gens]
        if len(texts) >= traces:
            break
    ids = tok(texts[:traces], add_special_tokens=False)["input_ids"]
    return sum(len(t.encode()) for t in texts[:traces]) / sum(map(len, ids))


# ---------------------------------------------------------------------------------------------------------------
# the two sides (run in a worker subprocess)


def redi_side(spec: dict) -> dict:
    """redi's data build of ``spec['path']`` as ``data=openr1_raw data.source=local`` builds it in a run."""
    from hydra import compose, initialize_config_dir
    from transformers import AutoTokenizer

    import redi.run  # noqa: F401  (registers the config schemas and resolvers)
    from redi.data.build import build_training_data
    from redi.data.tokenize import Encoder, TokenizationSettings
    from redi.model.load import tokenizer_fingerprint

    limits = [f"data.builder.{key}={value}" for key, value in spec.get("limits", {}).items()]
    overrides = ["data=openr1_raw", "data.source=local", f"data.path={spec['path']}", *limits]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    tok = AutoTokenizer.from_pretrained(spec["tokenizer"])
    settings = TokenizationSettings(
        cfg.data.prompt_template, cfg.data.max_length, cfg.data.truncation, "chatml_think"
    )
    encoder = Encoder(tok, settings)
    built = build_training_data(
        cfg.data,
        count_tokens=encoder.count_tokens,
        contamination_texts=synth.benchmark_problems(spec["benchmarks"]),
        cache_dir=Path(spec["work"]),
        tokenizer_key=tokenizer_fingerprint(tok),
        count_chat=encoder.count_chat_message,
        tokenizer=tok,  # texts whose bytes already fit a limit are not tokenised (redi.data.lengths)
    )
    return {
        "sft_ids": list(built.sft["problem_id"]),
        "pair_ids": list(built.pairs["problem_id"]),
        "funnel": built.funnel,
    }


def peer_side(spec: dict) -> dict:
    """The authors' approach (benchmarks/data_build_peer.py) on the same files and tokenizer."""
    from data_build_peer import run_peer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec["tokenizer"])
    files = synth.data_files(Path(spec["data"]))
    limits = spec.get("limits", {})
    return run_peer(
        files, tok, synth.benchmark_problems(spec["benchmarks"]), Path(spec["work"]),
        max_prompt=limits.get("max_prompt_tokens", 800), max_response=limits.get("max_response_tokens", 19_000),
    )  # fmt: skip


def worker(spec_path: str) -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = json.loads(Path(spec_path).read_text())
    result = (redi_side if spec["side"] == "redi" else peer_side)(spec)
    Path(spec["result"]).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------------------------
# measuring a worker: wall time, peak memory of its process tree, disk


def _tree_memory(root: int) -> tuple[int, int]:
    """(RSS, anonymous RSS) in bytes summed over ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    rss = anon = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        anon += int(fields.get("RssAnon", "0 kB").split()[0]) * 1024
    return rss, anon


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def measure(side: str, data: Path, manifest: dict, tokenizer: Path, benchmarks: str, log_dir: Path) -> dict:
    """Run one side in a fresh subprocess; wall seconds, peak tree RSS / anonymous memory, disk, its result."""
    files = synth.data_files(data)
    path = files[0] if len(files) == 1 else data / "data"
    with tempfile.TemporaryDirectory(prefix=f"dbs-{side}-", dir=log_dir) as tmp:
        tmp_path = Path(tmp)
        spec = {
            "side": side, "data": str(data), "path": str(path), "tokenizer": str(tokenizer),
            "benchmarks": benchmarks, "work": str(tmp_path / "work"), "result": str(tmp_path / "result.json"),
        }  # fmt: skip
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf_cache"), "PYTHONPATH": str(REPO)}
        log_path = log_dir / f"{side}-{data.name}.log"
        peak = [0, 0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(tmp_path / "spec.json")],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.25):
                    rss, anon = _tree_memory(proc.pid)
                    peak[0], peak[1] = max(peak[0], rss), max(peak[1], anon)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = proc.wait()
            done.set()
            sampler.join()
        seconds = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker and every process it waited for
        cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        disk = _du(tmp_path)
        if code != 0:
            tail = log_path.read_text()[-3000:]
            return {"side": side, "failed": code, "seconds": seconds, "cpu": cpu, "peak_rss": peak[0],
                    "peak_anon": peak[1], "disk": disk, "log": str(log_path), "tail": tail}  # fmt: skip
        result = json.loads((tmp_path / "result.json").read_text())
    return {"side": side, "seconds": seconds, "cpu": cpu, "peak_rss": peak[0], "peak_anon": peak[1], "disk": disk,
            "log": str(log_path), **result}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# the sitting


def _versions() -> str:
    import datasets
    import pyarrow
    import tokenizers
    import transformers

    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return (
        f"python {platform.python_version()}, datasets {datasets.__version__}, pyarrow {pyarrow.__version__}, "
        f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}, redi {rev.stdout.strip()}"
    )


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f}"


def row_line(fraction: float, manifest: dict, r: dict, peer: dict | None) -> str:
    """One table row; the ratios are redi / peer (below 1: redi ahead), of CPU seconds and of anonymous memory."""
    head = f"| {fraction:g} | {manifest['stats']['rows']:,} | {r['side']} "
    mem = f"| {_gb(r['peak_rss'])} | {_gb(r['peak_anon'])} "
    if "failed" in r:
        return (
            head
            + f"| FAILED (exit {r['failed']}) after {r['seconds']:.0f} | {r['cpu']:.0f} "
            + mem
            + "| | | | |"
        )
    ratio = ""
    if r["side"] == "redi" and peer and "failed" not in peer:
        ratio = f"{r['cpu'] / peer['cpu']:.2f} / {r['peak_anon'] / max(peer['peak_anon'], 1):.2f}"
    counts = f"| {_gb(r['disk'])} | {len(r['sft_ids']):,} | {len(r['pair_ids']):,} | {ratio} |"
    return head + f"| {r['seconds']:.0f} | {r['cpu']:.0f} " + mem + counts


TABLE_HEAD = (
    "| size | rows | side | wall s | CPU s | peak RSS GiB (tree) | peak anon GiB | disk GiB | D_SFT | D_Pref "
    "| redi/peer CPU / anon |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fractions", default="0.1,0.5,1.0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=synth.FULL_ROWS)
    p.add_argument("--rows-per-shard", type=int, default=0, help="0: one Parquet file per size")
    p.add_argument("--workdir", type=Path, default=REPO / ".cache" / "data_build_scale")
    p.add_argument("--sides", default="peer,redi")
    p.add_argument("--benchmarks", default=str(synth.DEFAULT_BENCHMARKS))
    p.add_argument(
        "--pool-size", type=int, default=synth.SynthConfig.pool_size, help="the generator's paragraphs"
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a.worker)
    a.workdir.mkdir(parents=True, exist_ok=True)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, nice {os.nice(0)}; load {os.getloadavg()}")
    print(f"versions: {_versions()}", flush=True)
    tokenizer = ensure_tokenizer(a.workdir, a.seed, a.pool_size)
    sides = a.sides.split(",")
    lines, results = [], []
    for k, fraction in enumerate(float(f) for f in a.fractions.split(",")):
        t = time.perf_counter()
        cfg = synth.SynthConfig(
            seed=a.seed, rows=a.rows, fraction=fraction, rows_per_shard=a.rows_per_shard, pool_size=a.pool_size,
            benchmarks=a.benchmarks,
        )  # fmt: skip
        data, manifest = ensure_data(a.workdir, cfg)
        size = sum(f["bytes"] for f in manifest["files"].values())
        print(f"data {fraction:g}: {manifest['stats']['rows']:,} rows, {manifest['stats']['traces']:,} traces, "
              f"{size / 1e9:.2f} GB zstd Parquet (generated in {manifest['seconds']:.0f} s; ready in "
              f"{time.perf_counter() - t:.0f} s); {bytes_per_token(tokenizer, synth.data_files(data)):.2f} bytes/token",
              flush=True)  # fmt: skip
        by_side: dict[str, dict] = {}
        for side in sides if k % 2 == 0 else sides[::-1]:
            print(f"  {side} at {fraction:g}: started, load {os.getloadavg()[0]:.2f}", flush=True)
            by_side[side] = measure(side, data, manifest, tokenizer, a.benchmarks, a.workdir)
            r = by_side[side]
            print(f"  {side} at {fraction:g}: {r['seconds']:.0f} s (CPU {r['cpu']:.0f} s), peak RSS {_gb(r['peak_rss'])} GiB, anon "
                  f"{_gb(r['peak_anon'])} GiB, {'FAILED' if 'failed' in r else 'ok'}; load {os.getloadavg()[0]:.2f}; "
                  f"log {r['log']}", flush=True)  # fmt: skip
            if "failed" in r:
                print(r["tail"])
        peer, redi = by_side.get("peer"), by_side.get("redi")
        same = "n/a"
        if peer and redi and "failed" not in peer and "failed" not in redi:
            same = str(peer["sft_ids"] == redi["sft_ids"] and peer["pair_ids"] == redi["pair_ids"])
        lines += [row_line(fraction, manifest, by_side[s], peer) for s in sides if s in by_side]
        results.append(
            {
                "fraction": fraction,
                "same_ids": same,
                **{s: {k2: v for k2, v in r.items() if not k2.endswith("_ids")} for s, r in by_side.items()},
            }
        )
        print(f"  same D_SFT / D_Pref ids: {same}", flush=True)
    print("\n" + TABLE_HEAD)
    print("\n".join(lines))
    print(f"\nload at the end {os.getloadavg()}")
    (a.workdir / "last_results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
