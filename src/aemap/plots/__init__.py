"""Figures, one module per figure family, one shared style. Plots read
precomputed results only: a colour change never reruns a computation."""
