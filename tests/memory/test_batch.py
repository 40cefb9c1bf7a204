"""The estimator's default target: the SNU 384 x 384 image whatever the k-space width; test shapes clipped."""

from fastmri_pl.memory.batch import BatchShape


def test_the_2026_knee_shape_plans_for_its_square_target() -> None:
    """640 x 368 k-space, 384 x 384 image_label: the output is padded to the target, not the target cut."""
    knee = BatchShape(coils=15, height=640, width=368, adj_slices=3)
    assert knee.target_hw == (384, 384)
    cropped = knee.readout_cropped()
    assert (cropped.height, cropped.width, cropped.target_size) == (384, 368, (384, 384))


def test_a_small_test_shape_keeps_a_target_inside_its_k_space() -> None:
    assert BatchShape(coils=3, height=16, width=18).target_hw == (16, 18)
    assert BatchShape(coils=4, height=400, width=396, target_size=(320, 320)).target_hw == (320, 320)
