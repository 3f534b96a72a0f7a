"""Hugging Face hub ids checked before any compute: cached, or the hub reachable in seconds, else one clear error.

Without this check, an unreachable hub shows up much later as a minute of retries and a long traceback from
transformers or datasets. Here: a hub id whose files are already in the local cache is used as is (also with
HF_HUB_OFFLINE=1); otherwise the hub must answer a TCP connection within ``REDI_HUB_TIMEOUT`` seconds (5), else
:class:`HubUnreachable` says which key and id, why, and how to use a local copy instead.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlparse


class HubUnreachable(ValueError):
    """A hub id is needed, the hub cannot be reached and no local copy is cached."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline() -> bool:
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def is_cached(repo_id: str, repo_type: str = "model", revision: str | None = None) -> bool:
    """True when the hub cache (or, for datasets, the datasets cache) holds a copy of ``repo_id``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(repo_id, repo_type=repo_type, revision=revision, local_files_only=True)
        return True
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        pass
    if repo_type == "dataset":
        import datasets

        prepared = Path(datasets.config.HF_DATASETS_CACHE) / repo_id.replace("/", "___")
        return prepared.is_dir() and any(prepared.iterdir())
    return False


@functools.lru_cache(maxsize=4)
def hub_unreachable_reason(endpoint: str, timeout: float) -> str | None:
    """None when ``endpoint`` accepts a TCP connection within ``timeout`` seconds, else why not (one phrase)."""
    url = urlparse(endpoint)
    host = url.hostname or endpoint
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as e:
        return f"cannot resolve {host} ({e.strerror or e})"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g}s"
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or e})"


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_problem(repo_id: str, key: str, repo_type: str = "model", revision: str | None = None) -> str | None:
    """The :func:`check_hub_id` message for ``repo_id``, or None when it can be used (for collecting checks)."""
    try:
        check_hub_id(repo_id, key, repo_type, revision)
    except HubUnreachable as e:
        return str(e)
    return None


def check_hub_id(repo_id: str, key: str, repo_type: str = "model", revision: str | None = None) -> None:
    """Raise :class:`HubUnreachable` (naming ``key`` and the id) when ``repo_id`` can be neither found nor fetched."""
    if is_cached(repo_id, repo_type, revision):
        return
    if hub_offline():
        why = "HF_HUB_OFFLINE=1 and it is not in the local cache"
    else:
        reason = hub_unreachable_reason(_endpoint(), float(os.environ.get("REDI_HUB_TIMEOUT", "5")))
        if reason is None:
            return
        why = f"the Hugging Face hub is unreachable: {reason}; it is not in the local cache either"
    kind = "dataset " if repo_type == "dataset" else ""
    local = "data.source=local data.path=FILE" if key.startswith("data.") else f"{key}=DIR"
    if key.startswith("eval."):
        local = f"{key.rsplit('.', 1)[0]}.source=local {key.rsplit('.', 1)[0]}.path=FILE"
    raise HubUnreachable(
        f"{key}={repo_id!r}: {why}. Use a local copy: download it where there is network "
        f"(hf download {'--repo-type dataset ' if kind else ''}{repo_id} --local-dir DIR) and set {local} "
        "(or copy that machine's hub cache here and set HF_HUB_OFFLINE=1)"
    )
