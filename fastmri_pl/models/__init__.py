"""Reconstruction networks: (masked_kspace, mask, num_low_frequencies) -> the centre slice's image."""
