"""Experiment tooling around Hydra: the multirun summary callback and DDP that works inside (multi)runs."""
