"""Soft data consistency: pull the current k-space towards the measured samples by a learned weight."""

import torch
from torch import nn


class SoftDataConsistency(nn.Module):
    """Returns `weight * mask * (k - k0)`, the term a cascade subtracts from its k-space estimate."""

    def __init__(self, initial_weight: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(float(initial_weight)))

    def forward(self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (kspace - measured) * (mask * self.weight)
