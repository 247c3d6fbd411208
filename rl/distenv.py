"""Where this process sits in an accelerate/torchrun launch, read from the launcher's environment variables.

Stdlib only, so the config schema and other light modules can ask without importing torch or transformers.
"""

from __future__ import annotations

import os


def world_size() -> int:
    """Processes in the launch (1 when not launched by accelerate/torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (0 when not launched)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 of a launch (or the only process): the one that writes run files."""
    return rank() == 0
