"""Training: the GRPO run in phases (`loop`), rlvr's GRPOTrainer and its reward wrapper, callbacks, and what a
run adds around TRL (curriculum, dynamic sampling, health, resilience, warm-up, precision, LoRA)."""
