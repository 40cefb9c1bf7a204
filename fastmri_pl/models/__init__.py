"""Reconstruction networks. Each maps (masked_kspace, mask, num_low_frequencies) to the centre slice's image."""
