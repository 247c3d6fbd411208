"""Launching on GPUs: the launch planner (`plan`) and its memory arithmetic."""
