import builtins
from types import SimpleNamespace

import pytest
import torch

from fastmri_pl.data.augment import MaskAugmentation
from fastmri_pl.data.transforms import MaskChooser
from fastmri_pl.mri.masks import (
    MaskFunc,
    RangeMaskFunc,
    acs_mask,
    center_block,
    equispaced_fraction_mask,
    equispaced_mask,
    num_low_frequencies,
    random_mask,
    stable_seed,
)

BUILDERS = [random_mask, equispaced_mask, equispaced_fraction_mask]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize(("acceleration", "fraction"), [(4, 0.08), (8, 0.04)])
def test_acceleration_and_centre_lines(builder, acceleration: int, fraction: float) -> None:
    width = 396
    n = round(width * fraction)
    ratios = []
    for seed in range(20):
        mask = builder(width, acceleration, fraction, gen(seed))
        assert mask.shape == (width,) and mask.dtype == torch.float32
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        start = (width - n + 1) // 2
        assert mask[start : start + n].eq(1).all(), "ACS lines must always be kept"
        assert num_low_frequencies(mask) >= n
        ratios.append(width / mask.sum().item())
    mean_ratio = sum(ratios) / len(ratios)
    expected = acceleration
    if builder is equispaced_mask:  # fastMRI's plain equispaced adds the centre on top of the grid
        expected = width / (width / acceleration + n * (1 - 1 / acceleration))
    assert abs(mean_ratio - expected) / expected < 0.1


@pytest.mark.parametrize("width", [396, 392, 368, 320])
@pytest.mark.parametrize(("acceleration", "fraction"), [(4, 0.08), (8, 0.04)])
def test_equispaced_fraction_acceleration_is_exact(width: int, acceleration: int, fraction: float) -> None:
    for seed in range(5):
        lines = equispaced_fraction_mask(width, acceleration, fraction, gen(seed)).sum().item()
        assert abs(lines - width / acceleration) <= 1.5


@pytest.mark.parametrize("builder", BUILDERS)
def test_same_seed_same_mask_and_seeds_differ(builder) -> None:
    a = builder(128, 4, 0.08, gen(stable_seed("brain_acc4_1.h5")))
    b = builder(128, 4, 0.08, gen(stable_seed("brain_acc4_1.h5")))
    assert torch.equal(a, b)
    masks = {tuple(builder(128, 4, 0.08, gen(seed)).tolist()) for seed in range(8)}
    assert len(masks) > 1


def test_stable_seed_does_not_use_the_salted_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = stable_seed("file_brain_7.h5")

    def salted(_: object) -> int:
        raise AssertionError("stable_seed must not use hash(), which differs between processes")

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "hash", salted)
        again = stable_seed("file_brain_7.h5")
    assert again == expected
    assert 0 <= expected < 2**32
    assert stable_seed("file_brain_7.h5") != stable_seed("file_brain_8.h5")


def test_mask_func_pairs_default_centre_fractions() -> None:
    func = MaskFunc("equispaced", accelerations=(4, 8))
    assert func.center_fractions == pytest.approx([0.08, 0.04])
    seen = {func(400, gen(seed)).acceleration for seed in range(20)}
    assert seen == {4.0, 8.0}
    with pytest.raises(ValueError):
        MaskFunc("equispaced", accelerations=(4, 8), center_fractions=(0.08,))
    with pytest.raises(ValueError):
        MaskFunc("radial")


def test_num_low_frequencies_finds_the_centre_run() -> None:
    width = 40
    mask = center_block(width, 6)
    mask[[0, 4, 30]] = 1.0
    assert num_low_frequencies(mask) == 6
    mask[(width - 6 + 1) // 2 + 6] = 1.0  # a sampled neighbour extends the run by one line
    n = num_low_frequencies(mask)
    assert n in (6, 7)
    assert (acs_mask(torch.tensor([n]), width).reshape(width) <= mask).all()
    assert num_low_frequencies(torch.zeros(width)) == 0


@pytest.mark.parametrize("builder", BUILDERS)
def test_acs_of_found_count_lies_inside_the_mask(builder) -> None:
    for seed in range(10):
        mask = builder(97, 4, 0.08, gen(seed))
        n = num_low_frequencies(mask)
        assert (acs_mask(torch.tensor([n]), 97).reshape(97) <= mask).all()


def test_range_mask_draws_within_its_range() -> None:
    func = RangeMaskFunc(acceleration_range=(3, 13), center_fraction_range=(0.04, 0.1))
    drawn = [func(396, gen(seed)) for seed in range(60)]
    accelerations = {d.acceleration for d in drawn}
    assert accelerations <= set(map(float, range(3, 14)))
    assert len(accelerations) >= 6
    centres = {d.num_low_frequencies for d in drawn}
    assert len(centres) > 3
    assert all(round(396 * 0.04) <= n for n in centres)


def test_augmentation_probability_ramps() -> None:
    augmentation = MaskAugmentation(prob_start=0.1, prob_end=0.5, ramp_epochs=4)
    probabilities = [augmentation.probability(e) for e in range(7)]
    assert probabilities[0] == pytest.approx(0.1)
    assert probabilities[2] == pytest.approx(0.3)
    assert probabilities[4:] == pytest.approx([0.5] * 3)
    assert all(a <= b for a, b in zip(probabilities, probabilities[1:], strict=False))
    with pytest.raises(ValueError):
        MaskAugmentation(prob_end=1.5)


def test_acs_lines_nominal_passes_the_centre_block_and_contiguous_the_sampled_run() -> None:
    """396 wide, equispaced_fraction 4x, centre fraction 0.08: the block is round(396 * 0.08) = 32 lines, but
    for some offsets an equispaced line lands next to it and the contiguous run is 34 lines."""
    func = MaskFunc("equispaced_fraction", accelerations=[4], center_fractions=[0.08])
    nominal, contiguous = MaskChooser(func, acs_lines="nominal"), MaskChooser(func, acs_lines="contiguous")
    counts = set()
    for n in range(40):
        volume = SimpleNamespace(fname=f"file{n}.h5", width=396, has_mask=False)
        drawn = nominal(volume, 0, gen(0))
        run = contiguous(volume, 0, gen(0))
        assert torch.equal(drawn.mask, run.mask)  # the rule changes the count, never the mask
        assert drawn.num_low_frequencies == 32
        assert run.num_low_frequencies == num_low_frequencies(run.mask)
        counts.add(run.num_low_frequencies)
    assert counts == {32, 34}
    with pytest.raises(ValueError, match="data.acs_lines"):
        MaskChooser(func, acs_lines="measured")
