"""A projected epoch as the sum of every training sample's step at its own shape.

SNU volumes hold 4 to 20 coils: pricing every step at the largest sample's shape overstates an epoch. Tracing
every distinct shape would take a planner's minutes per shape, so a step's time is modelled as

    T(C, H, W) = T0 + b (C·H·W - C0·H0·W0) + c (H·W - H0·W0)

(an op's work grows with the coil images' pixels: sensitivity net, FFTs, data consistency; with the image's
pixels: the cascades' U-Nets; or not at all: parameter updates, launch overheads), through exact traces at
up to three anchors: the planned (largest) shape (C0, H0, W0), the data's coil count farthest from C0 at
H0 x W0, and the data's image size farthest from H0·W0 at C0 coils. Only the directions the data varies in
are traced: one coil count and one image size need no trace beyond the plan's, and two coil counts at one size
are priced exactly.

Between anchors the model interpolates. Along the coils, every op's roofline time is the largest of terms
affine in C (FLOPs and bytes grow linearly with the coil images, the per-op overhead not at all), so the step
time is convex in C and the line through two anchors lies above it: the interpolated epoch errs high, never
low (but for chunk counts that round up). `tests/memory/test_epoch.py` checks a middle coil count against its
own trace.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastmri_pl.memory.data_shapes import DataShapes, SampleShape

Geometry = tuple[int, int, int]  # coils, height, width (after the readout crop and coil compression)
Span = tuple[float, float]  # [low, high] seconds over the efficiency range


@dataclass(frozen=True)
class Anchor:
    """A traced shape: its geometry and the target size its batch needs."""

    coils: int
    height: int
    width: int
    target_size: tuple[int, int]

    @property
    def geometry(self) -> Geometry:
        return self.coils, self.height, self.width

    def as_sample(self) -> SampleShape:
        return SampleShape("", self.coils, self.height, self.width, 1, self.target_size)


def anchors(samples: Sequence[SampleShape], planned: SampleShape) -> list[Anchor]:
    """The planned shape, then (where the data varies so) its size at the farthest coil count and its coils at
    the farthest image size."""
    found = [Anchor(planned.coils, planned.height, planned.width, planned.target_size)]
    coils = max(samples, key=lambda s: (abs(s.coils - planned.coils), -s.coils)).coils
    if coils != planned.coils:
        found.append(Anchor(coils, planned.height, planned.width, planned.target_size))
    area = planned.height * planned.width
    other = max(samples, key=lambda s: (abs(s.height * s.width - area), s.file))
    if other.height * other.width != area:
        found.append(Anchor(planned.coils, other.height, other.width, other.target_size))
    return found


@dataclass(frozen=True)
class StepTimeModel:
    """T(C, H, W) of the module docstring, one (T0, b, c) per end of the efficiency range."""

    origin: Geometry
    terms: tuple[tuple[float, float, float], tuple[float, float, float]]

    def seconds(self, geometry: Geometry) -> Span:
        coils, height, width = geometry
        c0, h0, w0 = self.origin
        d_pixels, d_area = coils * height * width - c0 * h0 * w0, height * width - h0 * w0
        low, high = (t0 + b * d_pixels + c * d_area for t0, b, c in self.terms)
        return low, high


def fit_step_time(traced: Sequence[tuple[Anchor, Span]]) -> StepTimeModel:
    """The model through `traced` (the first is the origin; then at most one anchor that differs in coils
    only and one that differs in image size only, as `anchors` returns them)."""
    (origin, t0), rest = traced[0], traced[1:]
    c0, h0, w0 = origin.geometry
    terms = []
    for end in (0, 1):
        b = c = 0.0
        for anchor, span in rest:  # the coil anchor first: the size anchor's slope uses its b
            if anchor.coils != c0:
                b = (span[end] - t0[end]) / ((anchor.coils - c0) * h0 * w0)
        for anchor, span in rest:
            if anchor.coils == c0:
                d_area = anchor.height * anchor.width - h0 * w0
                c = (span[end] - t0[end]) / d_area - b * c0
        terms.append((t0[end], b, c))
    return StepTimeModel(origin.geometry, (terms[0], terms[1]))


@dataclass(frozen=True)
class EpochProjection:
    """`epoch_h` [low, high] and how it was computed, in words (the JSON's `epoch_basis`)."""

    epoch_h: Span
    basis: str


def per_sample_epoch(
    shapes: DataShapes, planned: SampleShape, step_at: Callable[[Anchor], Span], batch_size: int
) -> EpochProjection:
    """Hours of one epoch summed over the training samples, each step priced at its own shape.

    `step_at(anchor)` traces and projects one step (the planned shape's is the plan's own step time).
    """
    traced = anchors(shapes.train, planned)
    model = fit_step_time([(anchor, step_at(anchor)) for anchor in traced])
    histogram = shapes.histogram()
    low = high = 0.0
    for coils, height, width, slices in histogram:
        step = model.seconds((coils, height, width))
        low, high = low + slices * step[0], high + slices * step[1]
    basis = (
        f"per-sample shapes from {shapes.source} ({shapes.train_slices} slices, {len(histogram)} shapes; "
        f"step time linear in coils x H x W and H x W through {len(traced)} traced shape"
        f"{'s' if len(traced) > 1 else ''})"
    )
    scale = 1 / (batch_size * 3600)
    return EpochProjection((low * scale, high * scale), basis)
