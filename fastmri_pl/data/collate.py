"""Stacking samples into a batch, refusing mixed shapes with the names of the files that differ."""

from typing import Any

import torch

from fastmri_pl.errors import DataError

_TENSOR_KEYS = (
    "masked_kspace",
    "mask",
    "num_low_frequencies",
    "target",
    "max_value",
    "acceleration",
    "slice_num",
)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Samples -> the batch dict of docs/interfaces.md; different coil counts or sizes -> DataError."""
    first = samples[0]
    for sample in samples[1:]:
        for key in ("masked_kspace", "mask", "target"):
            if sample[key].shape != first[key].shape:
                raise DataError(
                    sample["fname"],
                    f"{key} shape {tuple(sample[key].shape)} differs from {tuple(first[key].shape)} of "
                    f"{first['fname']} in the same batch; use batch_size 1 or filter the files to one shape",
                )
    batch: dict[str, Any] = {key: torch.stack([s[key] for s in samples]) for key in _TENSOR_KEYS}
    batch["fname"] = [s["fname"] for s in samples]
    return batch
