"""Where the policy's weights come from: :class:`ModelSource` (a hub id, a Hugging Face model directory, or a peft
adapter on its base) and :class:`ModelSourceError`. redi.model.resolve classifies what a key names.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelSourceError(ValueError):
    """init_from / base names something that cannot be loaded."""


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: kind is "dir" (a Hugging Face model directory), "hub" (a hub id), "adapter" (a
    peft adapter directory merged into ``base`` at load) or "checkpoint" (a redi run's ``checkpoints/step_N``,
    loaded as its run built its model: redi.inputs.model); ``tokenizer``: where the tokenizer is when not beside
    the weights (a Trainer checkpoint saved without one)."""

    kind: str
    location: str
    tokenizer: str | None = None
    base: str | None = None

    def __str__(self) -> str:
        return self.location
