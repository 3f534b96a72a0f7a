"""Publish a finished run's model: a generated model card, then the hub (``hub.push=true hub.repo_id=org/name``).

The card (README.md beside the weights) says what was trained and how well it did: the objective and its
hyperparameters, the training settings (lr, batch, steps, LoRA), the data funnel of the builder, and the
evaluation table (pass@1 with standard error at every evaluated step), from the run directory's status.json,
.hydra/config.yaml and metrics.jsonl. The upload is ``huggingface_hub.HfApi.upload_folder`` of model/ (the
merged weights: what transformers and vLLM load) and, for a LoRA run, adapter/ as ``adapter/`` in the repo. A
``hub.repo_id`` that is a local directory or a file:// URL receives the same files by copy instead (offline).

Again by hand, for a finished run: ``python -m redi.infra.publish <run dir> <repo id or directory>``.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _config(run_dir: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)  # type: ignore[return-value]


def eval_table(run_dir: Path) -> list[str]:
    """Markdown rows: one per evaluated step, pass@1 ± sem per benchmark."""
    rows = (
        [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
        if (run_dir / "metrics.jsonl").is_file()
        else []
    )
    evals = [r for r in rows if any(k.startswith("eval/") and k.endswith("/pass@1") for k in r)]
    if not evals:
        return ["(not evaluated)"]
    logged = {k for r in evals for k in r}
    columns = []  # (header, key prefix): all problems, and the curve subset where eval.curve_limit logged one
    for b in sorted({k.split("/")[1] for k in logged if k.startswith("eval/") and k.endswith("/pass@1")}):
        if f"eval/{b}/pass@1" in logged:
            columns.append((b, f"eval/{b}/"))
        if f"eval/{b}/curve/pass@1" in logged:
            columns.append((f"{b} (curve subset)", f"eval/{b}/curve/"))
    lines = ["| step | " + " | ".join(h for h, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for r in evals:
        cells = []
        for _, prefix in columns:
            v, sem = r.get(prefix + "pass@1"), r.get(prefix + "pass@1_sem")
            cells.append("-" if v is None else f"{v:.3f}" + (f" ± {sem:.3f}" if sem is not None else ""))
        lines.append(f"| {r.get('step')} | " + " | ".join(cells) + " |")
    return lines


def model_card(run_dir: Path) -> str:
    """The README.md of the published model, from what the run directory recorded."""
    status = _read_json(run_dir / "status.json")
    cfg = _config(run_dir)
    model, data, trainer = cfg.get("model", {}), cfg.get("data", {}), cfg.get("trainer", {})
    objective = status.get("objective") or cfg.get("objective", {}).get("name", "?")
    hyper = status.get("hyperparameters") or {}
    lora = model.get("lora") or {}
    base = model.get("init_from") if status.get("objective") != "sft" else model.get("base")
    data_name = data.get("hub_id") or data.get("path") or data.get("source", "?")
    front = ["---", "library_name: transformers", "tags:", "- redi", f"- {objective}"]
    if lora.get("r"):
        front.append("- lora")
    if data.get("hub_id"):
        front += ["datasets:", f"- {data['hub_id']}"]
    front.append("---")
    targets = ",".join(lora.get("target_modules") or [])
    lora_text = (
        f"r={lora.get('r')} alpha={lora.get('alpha')} dropout={lora.get('dropout')} on {targets}"
        if lora.get("r")
        else "no (full fine-tuning)"
    )
    batch = trainer.get("micro_batch_size", 0) * trainer.get("grad_accum_steps", 1)
    lines = [
        *front,
        "",
        f"# {run_dir.name}",
        "",
        f"Trained with [redi](https://arxiv.org/abs/2505.24850)'s harness: objective **{objective}** from "
        f"`{base}` on `{data_name}`; run ended **{status.get('state', '?')}** at step {status.get('step', '?')}.",
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in hyper.items()),
        f"| lr | {cfg.get('lr')} |",
        f"| micro batch x accumulation (per process) | {batch} |",
        f"| epochs / max_steps | {trainer.get('epochs')} / {trainer.get('max_steps')} |",
        f"| seed | {cfg.get('seed')} |",
        f"| chat template | {model.get('chat_template')} |",
        f"| LoRA | {lora_text} |",
        "",
        "## Data funnel",
        "",
    ]
    funnel = status.get("data_funnel") or {}
    lines += (
        ["| step | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in funnel.items())]
        if funnel
        else ["(not recorded)"]
    )
    lines += ["", "## Evaluation (pass@1 ± standard error)", "", *eval_table(run_dir), ""]
    if lora.get("r"):
        lines += ["The weights here are merged (base + adapter); the adapter alone is in `adapter/`.", ""]
    return "\n".join(lines)


def _local_target(repo_id: str) -> Path | None:
    if repo_id.startswith("file://"):
        return Path(repo_id[len("file://") :])
    if repo_id.startswith((".", "/", "~")):
        return Path(repo_id).expanduser()
    return None


def push(run_dir: Path, hub: Any) -> str:
    """Write the card into model/ and upload model/ (and adapter/) to ``hub.repo_id``; returns where it went."""
    run_dir = Path(run_dir)
    model_dir = run_dir / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no saved model to push (did the run finish?)")
    (model_dir / "README.md").write_text(model_card(run_dir))
    adapter = run_dir / "adapter"
    local = _local_target(hub.repo_id)
    if local is not None:
        shutil.copytree(model_dir, local, dirs_exist_ok=True)
        if adapter.is_dir():
            shutil.copytree(adapter, local / "adapter", dirs_exist_ok=True)
        log.info("model and card copied to %s", local)
        return str(local)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=getattr(hub, "endpoint", None))
    api.create_repo(hub.repo_id, private=hub.private, exist_ok=True, repo_type="model")
    kwargs = {"repo_id": hub.repo_id, "revision": hub.revision, "commit_message": hub.commit_message}
    api.upload_folder(folder_path=str(model_dir), **kwargs)
    if adapter.is_dir():
        api.upload_folder(folder_path=str(adapter), path_in_repo="adapter", **kwargs)
    log.info("model and card pushed to %s", hub.repo_id)
    return hub.repo_id


def push_logged(run_dir: Path, hub: Any, status: Any) -> None:
    """hub.push after a completed run: a failed upload is logged with how to retry; the run stays completed."""
    try:
        status.update(hub=push(run_dir, hub))
    except Exception as e:  # noqa: BLE001 - the trained model is saved; say how to retry
        log.error("push to %s failed: %s: %s; retry: python -m redi.infra.publish %s %s",
                  hub.repo_id, type(e).__name__, e, run_dir, hub.repo_id)  # fmt: skip
        status.update(hub_error=f"{type(e).__name__}: {e}")


def check_hub(hub: Any) -> None:
    """Raise ValueError naming the key when hub.push=true cannot work."""
    if hub.push and not hub.repo_id:
        raise ValueError("hub.push=true needs hub.repo_id=<org/name> (or a local directory to write to)")


def main(argv: list[str]) -> int:
    from redi.config import HubConfig

    if len(argv) != 2:
        print("usage: python -m redi.infra.publish <run dir> <repo id or directory>", file=sys.stderr)
        return 2
    print(push(Path(argv[0]), HubConfig(push=True, repo_id=argv[1])))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main(sys.argv[1:]))
