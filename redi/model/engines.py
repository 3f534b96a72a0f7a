"""Generation engines behind one interface: Hugging Face ``generate`` (CPU or GPU) and vLLM (optional extra).

Both take chat-formatted prompt strings and return, per prompt, ``num_samples`` :class:`Generation` objects.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from redi.config import EvalConfig
from redi.infra.progress import Progress, on_terminal
from redi.model.checks import ENGINES


def chat_prompts(tokenizer: Any, problems: list[str], template: str) -> list[str]:
    """Chat-formatted generation prompts: the user turn is ``template.format(problem=...)`` for each problem text."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("evaluation needs a tokenizer with a chat template (model.chat_template)")
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": template.format(problem=problem)}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for problem in problems
    ]


@dataclass(frozen=True)
class Generation:
    """One sampled response: its text (special tokens removed), token count (EOS included), and why it stopped."""

    text: str
    num_tokens: int
    finish_reason: str  # "stop" (end-of-sequence) | "length" (hit max_new_tokens)


class Engine(Protocol):
    def generate(self, prompts: list[str], num_samples: int, seed: int) -> list[list[Generation]]: ...


class HFEngine:
    """Batched sampling with ``model.generate``: left padding, KV cache, batches of ``cfg.batch_size`` sequences.

    The k samples of a prompt are k copies of it in the batch; sequences are sorted by prompt length so a batch pads
    little. Sampling is seeded inside ``torch.random.fork_rng`` so evaluation leaves the caller's RNG untouched; the
    samples depend on the seed and on how sequences fall into batches (batch size), not on anything before.
    """

    def __init__(self, cfg: EvalConfig, model: Any, tokenizer: Any, progress: bool = True) -> None:
        self.cfg = cfg
        self.model = model
        self.tokenizer = tokenizer
        self.progress = progress
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
            raise ValueError("HF engine: the tokenizer has neither a pad nor an eos token")

    def _stop_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id if self.model.generation_config is not None else None
        ids = ids if isinstance(ids, list) else [ids]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

    def generate(self, prompts: list[str], num_samples: int, seed: int) -> list[list[Generation]]:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        tok = self.tokenizer
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        jobs = sorted(
            ((i, j) for i in range(len(prompts)) for j in range(num_samples)),
            key=lambda t: (-len(encoded[t[0]]), t),
        )
        stop_ids = self._stop_ids()
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else min(stop_ids)
        device = next(self.model.parameters()).device
        out: list[list[Generation | None]] = [[None] * num_samples for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        devices = [device] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(seed)
                # disable=None: a bar only when stderr is a terminal
                # a bar on a terminal; off one a line at the start, every minute and at the end
                bar = Progress(
                    len(jobs),
                    "generating",
                    unit="samples",
                    bar=self.progress and on_terminal(),
                    every_n=len(jobs),
                )
                for start in range(0, len(jobs), self.cfg.batch_size):
                    batch = jobs[start : start + self.cfg.batch_size]
                    rows = [encoded[i] for i, _ in batch]
                    for (i, j), gen in zip(
                        batch, self._generate_batch(rows, pad_id, stop_ids, device), strict=True
                    ):
                        out[i][j] = gen
                    bar.update(len(batch))
                bar.close()
        finally:
            self.model.train(was_training)
        return out  # type: ignore[return-value]

    def _generate_batch(
        self, rows: list[list[int]], pad_id: int, stop_ids: set[int], device: torch.device
    ) -> list[Generation]:
        """Left-pad ``rows`` to [B, T], sample up to max_new_tokens, and cut each response at its first stop id."""
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, r in enumerate(rows):
            input_ids[b, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            attention_mask[b, width - len(r) :] = 1
        sample = self.cfg.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample}
        if sample:
            kwargs.update(temperature=self.cfg.temperature, top_p=self.cfg.top_p, top_k=0)
        sequences = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=self.cfg.max_new_tokens,
            use_cache=True,
            pad_token_id=pad_id,
            eos_token_id=sorted(stop_ids),
            **kwargs,
        )
        new = sequences[:, width:].tolist()  # [B, <= max_new_tokens]
        gens = []
        for tokens in new:
            end = next((n for n, t in enumerate(tokens) if t in stop_ids), None)
            kept = tokens if end is None else tokens[: end + 1]
            reason = "stop" if end is not None else "length"
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            gens.append(Generation(text=text, num_tokens=len(kept), finish_reason=reason))
        return gens


class VLLMEngine:
    """vLLM's offline ``LLM.generate`` with ``n`` samples per prompt; needs the model as a path or hub id.

    During training the model only exists in memory, so it is saved (with its tokenizer) to a temporary directory
    that vLLM loads; that directory is removed when the engine is closed.
    """

    def __init__(self, cfg: EvalConfig, model: Any, tokenizer: Any, model_path: str | None) -> None:
        try:
            import vllm
        except ImportError as e:
            raise ImportError(
                "eval.engine=vllm needs vLLM, which is not installed: pip install 'redi[vllm]' (GPU machines), "
                "or use eval.engine=hf"
            ) from e
        self.cfg = cfg
        self._vllm = vllm
        self._tmp: tempfile.TemporaryDirectory | None = None
        if model_path is None:
            if model is None:
                raise ValueError("eval.engine=vllm: neither a model nor a model path was given")
            self._tmp = tempfile.TemporaryDirectory(prefix="redi-vllm-")
            model.save_pretrained(self._tmp.name)
            tokenizer.save_pretrained(self._tmp.name)
            model_path = self._tmp.name
        self.model_path = str(model_path)
        self._llm: Any = None

    def _engine(self, seed: int) -> Any:
        if self._llm is None:
            self._llm = self._vllm.LLM(
                model=self.model_path,
                dtype=vllm_dtype(self.model_path),
                seed=seed,
                gpu_memory_utilization=self.cfg.vllm_gpu_memory_utilization,
                tensor_parallel_size=self.cfg.vllm_tensor_parallel_size,
            )
        return self._llm

    def generate(self, prompts: list[str], num_samples: int, seed: int) -> list[list[Generation]]:
        params = self._vllm.SamplingParams(
            n=num_samples,
            temperature=self.cfg.temperature,
            top_p=self.cfg.top_p,
            max_tokens=self.cfg.max_new_tokens,
            seed=seed,
        )
        results = self._engine(seed).generate(prompts, params, use_tqdm=True)
        out = []
        for result in results:
            gens = [
                Generation(
                    text=c.text,
                    num_tokens=len(c.token_ids),
                    finish_reason="length" if c.finish_reason == "length" else "stop",
                )
                for c in result.outputs
            ]
            out.append(gens)
        return out

    def close(self) -> None:
        self._llm = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def vllm_dtype(model_path: str) -> str:
    """bfloat16 for a float32 checkpoint (fp32 master weights, redi.loop.precision), else vLLM's "auto".

    vLLM's "auto" serves float32 checkpoints in float16, whose range the training (bf16 compute) never had to fit.
    """
    config = Path(model_path) / "config.json"
    if not config.is_file():  # a hub id: its own dtype
        return "auto"
    saved = json.loads(config.read_text())
    return "bfloat16" if (saved.get("dtype") or saved.get("torch_dtype")) == "float32" else "auto"


def make_engine(cfg: EvalConfig, model: Any, tokenizer: Any, model_path: str | Path | None = None) -> Engine:
    """The engine ``cfg.engine`` names, ready to generate from ``model`` (hf) or ``model_path`` (vllm)."""
    if cfg.engine == "hf":
        if model is None:
            raise ValueError("eval.engine=hf needs a loaded model")
        return HFEngine(cfg, model, tokenizer, progress=getattr(cfg, "progress_bar", True))
    if cfg.engine == "vllm":
        return VLLMEngine(cfg, model, tokenizer, None if model_path is None else str(model_path))
    raise ValueError(f"eval.engine: {cfg.engine!r} is not one of {list(ENGINES)}")
