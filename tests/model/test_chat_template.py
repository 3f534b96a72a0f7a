"""model.chat_template: a model's own template is kept (auto), the ChatML-with-think default only for a tokenizer
without one, a named template replaces it, "model" without one is an error; the choice is logged."""

from __future__ import annotations

import logging

import pytest

from redi.config import ModelConfig
from redi.data.tokenize import Encoder, TokenizationSettings
from redi.model.chat_templates import ChatTemplateError, choose_chat_template, get_template
from redi.model.load import load_tokenizer, train_tokenizer
from redi.model.source import ModelSource, ModelSourceError

OWN = "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<<assistant>>{% endif %}"
TEXTS = ["What is 1 + 1?", "<think>\n1 + 1 = 2</think> \\boxed{2}"] * 20


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Two local tokenizer directories: one with its own chat template, one without."""
    root = tmp_path_factory.mktemp("tokenizers")
    tok = train_tokenizer(TEXTS, vocab_size=300, chat_template="auto")
    tok.chat_template = OWN
    tok.save_pretrained(root / "own")
    tok.chat_template = None
    tok.save_pretrained(root / "none")
    return root


def load(model_dirs, name: str, setting: str):
    return load_tokenizer(ModelSource("dir", str(model_dirs / name)), ModelConfig(chat_template=setting))


def test_auto_keeps_the_models_own_template_and_says_so(model_dirs, caplog):
    with caplog.at_level(logging.INFO, logger="redi.model.load"):
        tok = load(model_dirs, "own", "auto")
    assert tok.chat_template == OWN
    assert "chat template: the model's own (from" in caplog.text


def test_auto_without_a_template_uses_chatml_think(model_dirs, caplog):
    with caplog.at_level(logging.INFO, logger="redi.model.load"):
        tok = load(model_dirs, "none", "auto")
    assert tok.chat_template == get_template("chatml_think")
    assert "chat template: chatml_think (" in caplog.text and "has none of its own" in caplog.text


def test_a_named_template_replaces_the_own_one_and_model_needs_one(model_dirs):
    assert load(model_dirs, "own", "chatml").chat_template == get_template("chatml")
    assert load(model_dirs, "own", "model").chat_template == OWN
    with pytest.raises(ModelSourceError, match="has no chat template"):
        load(model_dirs, "none", "model")
    with pytest.raises(ChatTemplateError, match="unknown template 'llama'"):
        choose_chat_template(load(model_dirs, "own", "auto"), "llama", "x")


def test_the_think_prefix_follows_the_template_in_use(model_dirs):
    """A trace's leading <think> is dropped only when the generation prompt already opens it."""
    settings = TokenizationSettings("{problem}", 512, "keep_end", "auto")
    trace = "<think>\n1 + 1 = 2</think>"
    for name, setting, strips in (
        ("own", "auto", False),
        ("own", "chatml_think", True),
        ("own", "chatml", False),
    ):
        enc = Encoder(load(model_dirs, name, setting), settings)
        decoded = enc.tokenizer.decode(enc.response_ids([trace])[0][:-1])
        assert decoded.startswith("<think>") is not strips, (name, setting)
