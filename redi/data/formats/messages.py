"""The cells of TRL-style rows: a prompt (text or chat messages), a response (text or one assistant message).

Shared by the TRL formats (not a format itself). A plain-text prompt becomes the user turn (through
``data.prompt_template``), as an Open-R1 problem does; a conversational prompt is used as its messages (system
turns included), and its problem text is its last user turn.
"""

from __future__ import annotations

import json
from typing import Any

from redi.data.errors import DataError


def is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) for m in value)


def style_of(value: Any) -> str:
    return "conversational" if is_messages(value) else "standard"


def assistant_text(value: Any, where: str) -> str:
    """The text of a response cell: a string, or a list holding one assistant message."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: empty response")
        return value
    if is_messages(value):
        if len(value) != 1 or value[0].get("role") != "assistant":
            roles = [m.get("role") for m in value]
            raise DataError(f"{where}: expected one assistant message, got roles {roles}")
        content = value[0].get("content")
        if not isinstance(content, str) or not content.strip():
            raise DataError(f"{where}: the assistant message has no text content (got {content!r:.60})")
        return content
    raise DataError(f"{where}: expected a string or a list of chat messages, got {type(value).__name__}")


def prompt_cell(value: Any, where: str) -> tuple[str, str]:
    """(problem text, messages JSON or "") of a prompt cell; the problem text is the last user turn."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: empty prompt")
        return value, ""
    if is_messages(value) and value:
        for j, m in enumerate(value):
            if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise DataError(
                    f"{where}[{j}]: a chat message needs string 'role' and 'content', got {m!r:.80}"
                )
        users = [m["content"] for m in value if m["role"] == "user"]
        if not users:
            raise DataError(f"{where}: the prompt's messages have no user turn")
        clean = [{"role": m["role"], "content": m["content"]} for m in value]
        return users[-1], json.dumps(clean, ensure_ascii=False)
    raise DataError(f"{where}: expected a string or a non-empty list of chat messages, got {value!r:.60}")


def split_implicit(chosen: Any, rejected: Any, where: str) -> tuple[Any, Any, Any]:
    """(prompt, chosen, rejected) from two full sequences: the prompt is their longest shared start (as TRL)."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        idx = 0
        while idx < min(len(chosen), len(rejected)) and chosen[idx] == rejected[idx]:
            idx += 1
        if 0 < idx < len(chosen) and chosen[idx - 1] == " ":  # the space belongs to the responses (as TRL)
            idx -= 1
    elif is_messages(chosen) and is_messages(rejected):
        idx = 0
        while idx < min(len(chosen), len(rejected)) and chosen[idx] == rejected[idx]:
            idx += 1
    else:
        raise DataError(f"{where}: chosen and rejected must both be text or both be lists of chat messages")
    if idx == 0:
        raise DataError(f"{where}: no prompt column and chosen/rejected share no start to take it from")
    return chosen[:idx], chosen[idx:], rejected[idx:]


def common(row: dict[str, Any], index: int) -> dict[str, str]:
    """A row's id (its own ``id``, else its number in the source) and gold answer, as candidates carry them."""
    answer = row.get("answer")
    return {
        "problem_id": str(row["id"]) if row.get("id") is not None else f"row-{index}",
        "answer": "" if answer is None else str(answer),
    }
