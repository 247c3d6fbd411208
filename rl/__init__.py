"""rlvr: GRPO with verifiable rewards on top of TRL. See README.md."""

__version__ = "0.1.0"
