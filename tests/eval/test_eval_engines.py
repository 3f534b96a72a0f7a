"""Generation engines: left-padded batches equal one-at-a-time generation, seeding leaves the caller's RNG alone,
responses are cut at EOS with the right finish reason, and vLLM is optional with a clear message."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from redi.config import EvalConfig
from redi.model.engines import Generation, HFEngine, make_engine


def _prompts(tokenizer, texts):
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=False
        )
        for t in texts
    ]


TEXTS = ["What is 12 + 30?", "Solve x^2 = 4", "hi"]  # different lengths, so batches need padding


def test_batched_greedy_equals_one_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer, TEXTS)
    cfg = EvalConfig(temperature=0.0, max_new_tokens=12, batch_size=8, progress_bar=False)
    batched = make_engine(cfg, model, tokenizer).generate(prompts, num_samples=2, seed=0)
    single = make_engine(
        EvalConfig(temperature=0.0, max_new_tokens=12, batch_size=1, progress_bar=False), model, tokenizer
    ).generate(prompts, num_samples=1, seed=0)
    for b, s in zip(batched, single, strict=True):
        assert len(b) == 2
        assert b[0] == b[1] == s[0]  # greedy: both samples and the unpadded run agree token for token


def test_sampling_is_seeded_and_leaves_rng_and_mode_alone(tiny):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer, TEXTS[:2])
    engine = make_engine(EvalConfig(max_new_tokens=10, batch_size=4, progress_bar=False), model, tokenizer)
    model.train()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = engine.generate(prompts, num_samples=3, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.training
    b = engine.generate(prompts, num_samples=3, seed=7)
    c = engine.generate(prompts, num_samples=3, seed=8)
    assert a == b and a != c
    assert len({g.text for g in a[0]}) > 1  # samples of one prompt differ
    for gens in a:
        for g in gens:
            assert 1 <= g.num_tokens <= 10
            assert g.finish_reason == "stop" or (g.finish_reason == "length" and g.num_tokens == 10)


@dataclass
class _GenCfg:
    eos_token_id: int = 9


class _ScriptedModel(torch.nn.Module):
    """Returns fixed continuations so the cut at EOS can be checked by hand; [B, T] in, [B, T + new] out."""

    def __init__(self, continuations):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.continuations = continuations
        self.generation_config = _GenCfg()
        self.seen = []

    def generate(self, input_ids, attention_mask, **kwargs):
        self.seen.append((input_ids.clone(), attention_mask.clone(), kwargs))
        new = torch.tensor(self.continuations[: input_ids.shape[0]])
        return torch.cat([input_ids, new], dim=1)


class _Tok:
    pad_token_id = 0
    eos_token_id = 9

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [int(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(str(i) for i in ids if not (skip_special_tokens and i == 9))


def test_cut_at_eos_left_padding_and_finish_reason():
    model = _ScriptedModel([[5, 9, 9, 9], [1, 2, 3, 4]])
    engine = HFEngine(
        EvalConfig(max_new_tokens=4, batch_size=2, top_p=0.9, progress_bar=False), model, _Tok()
    )
    out = engine.generate(["123", "4"], num_samples=1, seed=0)
    ids, mask, kwargs = model.seen[0]
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]  # left padding
    assert kwargs["do_sample"] and kwargs["top_p"] == 0.9 and kwargs["use_cache"] and kwargs["top_k"] == 0
    assert out == [[Generation("5", 2, "stop")], [Generation("1234", 4, "length")]]


def test_vllm_missing_gives_clear_message(monkeypatch, tiny):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'redi\[vllm\]'.*eval.engine=hf"):
        make_engine(EvalConfig(engine="vllm"), *tiny, "some/model")
    with pytest.raises(ValueError, match="eval.engine: 'tgi'"):
        make_engine(EvalConfig(engine="tgi"), *tiny)


def test_vllm_engine_maps_outputs(monkeypatch, tiny):
    calls = {}

    class LLM:
        def __init__(self, model, **kw):
            calls["init"] = (model, kw)

        def generate(self, prompts, params, use_tqdm=True):
            calls["params"] = params
            out = types.SimpleNamespace
            return [
                out(
                    outputs=[
                        out(text=f"{p}!", token_ids=[1, 2], finish_reason="stop"),
                        out(text="x", token_ids=[1, 2, 3], finish_reason="length"),
                    ]
                )
                for p in prompts
            ]

    fake = types.ModuleType("vllm")
    fake.LLM = LLM
    fake.SamplingParams = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", fake)
    cfg = EvalConfig(engine="vllm", temperature=0.6, top_p=0.95, max_new_tokens=32, num_samples=2)
    engine = make_engine(cfg, None, None, "org/model")
    out = engine.generate(["a", "b"], num_samples=2, seed=3)
    assert calls["init"][0] == "org/model" and calls["init"][1]["seed"] == 3
    assert calls["init"][1]["dtype"] == "auto"  # a hub id: its own dtype
    assert calls["params"] == {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32, "seed": 3}
    assert out[1] == [Generation("b!", 2, "stop"), Generation("x", 3, "length")]
    # in training the model only lives in memory: it is saved to a temporary directory for vLLM
    model, tokenizer = tiny
    engine = make_engine(cfg, model, tokenizer, None)
    engine.generate(["a"], 1, 0)
    saved = Path(calls["init"][0])
    assert (saved / "config.json").is_file() and (saved / "tokenizer_config.json").is_file()
    # fp32 master weights are served in bf16 (vLLM's "auto" would pick float16 for a float32 checkpoint)
    assert next(model.parameters()).dtype == torch.float32 and calls["init"][1]["dtype"] == "bfloat16"
    engine.close()
    assert not saved.exists()
