"""Evaluation: one path (`evaluate`) for the held-out evaluation in training and `rlvr eval`, its metrics, and
`rlvr filter`."""
