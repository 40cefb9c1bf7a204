"""Weights in and out of our networks: reference checkpoints mapped onto ours, and our checkpoint files."""

from fastmri_pl.weights.checkpoint import NET_PREFIX, load_net_weights

__all__ = ["NET_PREFIX", "load_net_weights"]
