"""Can the Hugging Face hub be reached? Asked once, quickly, before a download that would otherwise retry for ~20 s.

`datasets` and `huggingface_hub` retry an unreachable hub five times with backoff before they fail, so a typo or a
machine without network costs half a minute and ends in a stack of warnings. `unavailable()` says in a few words why
the hub cannot be used (offline mode is set, or one request with a short timeout failed) and None when it answers;
callers turn that into one line naming the local alternative. Standard library only; proxies in the environment are
respected (urllib reads them).
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.request

PROBE_TIMEOUT = 3.0
"""Seconds one probe waits for the hub to answer; a reachable hub answers in well under a second."""

TRUE_VALUES = {"1", "on", "yes", "true"}


def offline_mode() -> str | None:
    """The variable that puts the hub libraries in offline mode (`HF_HUB_OFFLINE=1`), when one is set."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in TRUE_VALUES:
            return f"{name}={os.environ[name]}"
    return None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@functools.lru_cache(maxsize=8)
def _probe(url: str) -> str | None:
    """None when `url` answers at all (any HTTP status: the hub is there), else why it did not, in a few words."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT):  # noqa: S310
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return f"{url} is unreachable ({str(reason).strip() or type(reason).__name__})"


def unavailable() -> str | None:
    """Why the hub cannot be used right now (offline mode set, or no answer within PROBE_TIMEOUT s), else None.
    The probe runs once per endpoint and process."""
    return offline_mode() or _probe(endpoint())
