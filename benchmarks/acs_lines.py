"""Print docs/data.md's ACS table: how often a drawn mask's contiguous centre run outgrows its nominal block.

    .venv/bin/python benchmarks/acs_lines.py [width] [draws]

For each mask type and fastMRI acceleration / centre-fraction pair, `draws` masks of `width` lines are drawn
(seeds 0..draws-1) and the nominal count round(width * fraction) (`data.acs_lines=nominal`) is compared with
the contiguous sampled run around the centre (`data.acs_lines=contiguous`).
"""

import sys
from collections import Counter

import torch

from fastmri_pl.mri.masks import MASK_TYPES, MaskFunc, num_low_frequencies

PAIRS = ((4, 0.08), (8, 0.04))


def main() -> None:
    width = int(sys.argv[1]) if len(sys.argv) > 1 else 396
    draws = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(f"| mask ({width} wide, {draws} draws) | acceleration | nominal | contiguous longer | longest |")
    print("|---|---|---|---|---|")
    for mask_type in MASK_TYPES:
        for acceleration, fraction in PAIRS:
            func = MaskFunc(mask_type, accelerations=[acceleration], center_fractions=[fraction])
            extra: Counter[int] = Counter()
            for seed in range(draws):
                drawn = func(width, torch.Generator().manual_seed(seed))
                extra[num_low_frequencies(drawn.mask) - drawn.num_low_frequencies] += 1
            nominal = round(width * fraction)
            longer = 1 - extra[0] / draws
            print(f"| {mask_type} | {acceleration}x | {nominal} | {longer:.1%} | {nominal + max(extra)} |")


if __name__ == "__main__":
    main()
