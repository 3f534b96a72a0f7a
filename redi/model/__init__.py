"""The model floor: where weights come from (``source``, ``resolve``, ``hf_checkpoint``), loading and saving
(``load``), chat templates, LoRA, kernels, generation engines, and the model group's checks.

Nothing is re-exported here: the light modules (source, resolve, checks, chat_templates) import without torch.
"""
