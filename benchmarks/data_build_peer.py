"""The peer of benchmarks/data_build_scale.py: the REDI authors' preprocessing, re-implemented plainly.

Their repository builds the data with separate scripts, each a pass of its own: clean_base_shuffled.py (D_SFT) and
clean_base_shuffled_dpo.py (D_Pref) load OpenR1-Math-Raw with ``datasets``, add the original index with
``Dataset.map``, ``shuffle(seed=42)``, then loop over the shuffled rows in Python (problem_is_valid == "yes",
source != "cn_k12", a trace is correct when ``bool(llama) and bool(math_verify_reparsed)``, the first correct /
first incorrect trace), collect dicts and save them with ``Dataset.from_list``; study_length_distribution.py
counts lengths with ``map`` (the chat template applied to the one message, tokenised, + 1) and filters (prompt
<= 800, both responses <= 19,000); decontaminate.py flags 8-gram overlaps with ``map``. The same steps here, in
one process (the shuffled dataset shared by both loops), with redi's word 8-gram rule (lower-case words of letters
and digits; a benchmark text shorter than 8 words matches as a contiguous run), so both must keep the same rows.
A row's id is ``row-<original index>``, as redi names a row of a file without a uuid column.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from datasets import Dataset, load_dataset, load_from_disk

SOURCE_TO_EXCLUDE = "cn_k12"
SHUFFLE_SEED = 42
NGRAM = 8
_WORD = re.compile(r"[a-z0-9]+")


class Contamination:
    """Benchmark word 8-grams (as strings) and the benchmark texts shorter than 8 words."""

    def __init__(self, texts: list[str]) -> None:
        self.grams: set[str] = set()
        self.short: set[tuple[str, ...]] = set()
        for text in texts:
            w = _WORD.findall(text.lower())
            if len(w) >= NGRAM:
                self.grams.update(" ".join(w[i : i + NGRAM]) for i in range(len(w) - NGRAM + 1))
            elif w:
                self.short.add(tuple(w))

    def __call__(self, text: str) -> bool:
        w = _WORD.findall(text.lower())
        if not w:
            return False
        if len(w) >= NGRAM and any(
            " ".join(w[i : i + NGRAM]) in self.grams for i in range(len(w) - NGRAM + 1)
        ):
            return True
        if len(w) < NGRAM and tuple(w) in self.short:
            return True
        return any(tuple(w[i : i + len(s)]) == s for s in self.short for i in range(len(w) - len(s) + 1))


def _verdict_lists(item: dict) -> tuple[list, list] | None:
    """(llama, math-verify on the re-parsed answer) when both are lists aligned with the generations."""
    correctness = item.get("correctness") or {}
    llama_v = correctness.get("llama_verification")
    math_rep_v = correctness.get("math_verify_reparsed_answer")
    n = len(item.get("generations") or [])
    if not (
        isinstance(llama_v, list)
        and len(llama_v) == n
        and isinstance(math_rep_v, list)
        and len(math_rep_v) == n
    ):
        return None
    return llama_v, math_rep_v


def _usable(item: dict) -> bool:
    valid = item.get("problem_is_valid")
    if not (isinstance(valid, str) and valid.strip().lower() == "yes"):
        return False
    return (
        item.get("source") != SOURCE_TO_EXCLUDE
        and bool(item.get("problem"))
        and bool(item.get("generations"))
    )


def sft_loop(ds_shuffled: Dataset) -> list[dict]:
    """clean_base_shuffled.py (LandMV): the first trace both verifiers call correct, per usable problem."""
    out = []
    for item in ds_shuffled:
        if not _usable(item) or (lists := _verdict_lists(item)) is None:
            continue
        good = [i for i, (ll, mr) in enumerate(zip(*lists, strict=True)) if bool(ll) and bool(mr)]
        if good:
            messages = [
                {"role": "user", "content": item["problem"]},
                {"role": "assistant", "content": item["generations"][good[0]]},
            ]
            out.append(
                {"messages": messages, "source": item["source"], "original_index": item["original_index"]}
            )
    return out


def dpo_loop(ds_shuffled: Dataset) -> list[dict]:
    """clean_base_shuffled_dpo.py (LandMV): first correct vs first incorrect trace, problems with both."""
    out = []
    for item in ds_shuffled:
        if not _usable(item) or (lists := _verdict_lists(item)) is None:
            continue
        flags = [bool(ll) and bool(mr) for ll, mr in zip(*lists, strict=True)]
        if any(flags) and not all(flags):
            user = {"role": "user", "content": item["problem"]}
            chosen = item["generations"][flags.index(True)]
            rejected = item["generations"][flags.index(False)]
            out.append({
                "prompt": item["problem"],
                "chosen": [user, {"role": "assistant", "content": chosen}],
                "rejected": [user, {"role": "assistant", "content": rejected}],
                "source": item["source"],
                "original_index": item["original_index"],
            })  # fmt: skip
    return out


def _lengths(example: dict, tokenizer) -> dict:
    """study_length_distribution.py: each part rendered as a one-message chat, tokenised, + 1."""

    def count(messages: list[dict]) -> int:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=False, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1

    return {
        "prompt_len": count(example["chosen"][:1]),
        "chosen_len": count(example["chosen"][1:]),
        "rejected_len": count(example["rejected"][1:]),
    }


def run_peer(
    files: list[Path], tokenizer, benchmark_texts: list[str], work: Path, max_prompt: int = 800,
    max_response: int = 19_000, num_proc: int | None = None,
) -> dict:  # fmt: skip
    """D_SFT and D_Pref ids (in order) and the seconds of each step; the steps' outputs are saved under ``work``."""
    num_proc = num_proc or os.cpu_count() or 1
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        seconds[name] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()

    ds_raw = load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    lap("load")
    ds = ds_raw.map(lambda example, idx: {"original_index": idx}, with_indices=True, num_proc=num_proc)
    ds_shuffled = ds.shuffle(seed=SHUFFLE_SEED)
    lap("index_shuffle")
    Dataset.from_list(sft_loop(ds_shuffled)).save_to_disk(str(work / "sft"))
    lap("sft_loop")
    Dataset.from_list(dpo_loop(ds_shuffled)).save_to_disk(str(work / "dpo"))
    lap("dpo_loop")
    del ds_raw, ds, ds_shuffled
    dpo = load_from_disk(str(work / "dpo"))
    dpo = dpo.map(lambda ex: _lengths(ex, tokenizer), num_proc=max(1, num_proc // 2))
    dpo = dpo.filter(
        lambda ex: (
            ex["prompt_len"] <= max_prompt
            and ex["chosen_len"] <= max_response
            and ex["rejected_len"] <= max_response
        ),
        num_proc=max(1, num_proc // 2),
    )
    lap("length_filter")
    contaminated = Contamination(benchmark_texts)
    sft = load_from_disk(str(work / "sft"))
    sft = sft.filter(lambda ex: not contaminated(ex["messages"][0]["content"]), num_proc=num_proc)
    dpo = dpo.filter(lambda ex: not contaminated(ex["prompt"]), num_proc=num_proc)
    lap("decontaminate")
    return {
        "sft_ids": [f"row-{i}" for i in sft["original_index"]],
        "pair_ids": [f"row-{i}" for i in dpo["original_index"]],
        "phase_seconds": seconds,
    }
