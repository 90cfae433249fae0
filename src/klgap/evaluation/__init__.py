"""Evaluation of one trained run: likelihood bounds, the KL decomposition, generation."""
