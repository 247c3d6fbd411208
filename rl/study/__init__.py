"""Studies of many runs: ablations, their statistics and report, and the local dashboard."""
