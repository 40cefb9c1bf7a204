"""Brain- and knee-like phantoms and birdcage-style coil sensitivities for the synthetic data generator.

Images are built on normalised coordinates where the crop region (the part the challenge scores) spans
[-1, 1] on both axes, so the head always fits the crop whatever the k-space size, with air around it as in
the challenge's images (the foreground mask then has a border to find). Edges are soft (a sigmoid a
pixel or two wide) so that the data behave like band-limited MR images rather than aliasing-prone cartoons.
Everything is drawn from one `torch.Generator`, so a volume is a pure function of its seed.
"""

import math
from dataclasses import dataclass

import torch

_TISSUE = {"scalp": 0.9, "skull": 0.35, "grey": 0.6, "white": 0.8, "csf": 1.0}


def _uniform(generator: torch.Generator, low: float, high: float, size: tuple[int, ...] = ()) -> torch.Tensor:
    return low + (high - low) * torch.rand(size, generator=generator, dtype=torch.float64)


def _soft_inside(radius: torch.Tensor, edge: float) -> torch.Tensor:
    """1 inside radius < 1, 0 outside, with a sigmoid edge `edge` wide (normalised units)."""
    return torch.sigmoid((1.0 - radius) / edge)


def _ellipse_radius(
    y: torch.Tensor, x: torch.Tensor, cy: float, cx: float, ay: float, ax: float, angle: float
) -> torch.Tensor:
    """Normalised elliptic radius: < 1 inside an ellipse centred at (cy, cx) with semi-axes (ay, ax)."""
    cos, sin = math.cos(angle), math.sin(angle)
    dy, dx = y - cy, x - cx
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    return torch.sqrt((v / ay) ** 2 + (u / ax) ** 2)


class BrainPhantom:
    """One volume's anatomy: a head ellipse with scalp and skull rings, grey and white matter, ventricles,
    a few blobs and a smooth 3-D texture. `slice_image(z)` cuts it at z in [-1, 1]; nearby z give similar,
    not equal, images because every structure changes smoothly with z."""

    def __init__(self, generator: torch.Generator, num_blobs: int = 4, num_waves: int = 6) -> None:
        g = generator
        self.head_axes = (float(_uniform(g, 0.68, 0.78)), float(_uniform(g, 0.6, 0.7)))
        self.angle = float(_uniform(g, -0.15, 0.15))
        self.ventricle_size = float(_uniform(g, 0.1, 0.16))
        self.blob_centres = _uniform(g, -0.45, 0.45, (num_blobs, 2))
        self.blob_drift = _uniform(g, -0.3, 0.3, (num_blobs, 2))
        self.blob_axes = _uniform(g, 0.06, 0.16, (num_blobs, 2))
        self.blob_levels = _uniform(g, -0.2, 0.2, (num_blobs,))
        self.wave_vectors = _uniform(g, -6.0, 6.0, (num_waves, 3))
        self.wave_phases = _uniform(g, 0.0, 2 * math.pi, (num_waves,))
        self.phase_coeffs = _uniform(g, -0.6, 0.6, (4,))

    def slice_image(self, z: float, y: torch.Tensor, x: torch.Tensor, edge: float) -> torch.Tensor:
        """Complex image (H, W) float64-based of the cut at height z; magnitude at most about 1."""
        shrink = math.sqrt(max(1.0 - 0.6 * z * z, 0.2))
        ay, ax = self.head_axes[0] * shrink, self.head_axes[1] * shrink
        r = _ellipse_radius(y, x, 0.0, 0.0, ay, ax, self.angle)
        head = _soft_inside(r, edge)
        inner_skull = _soft_inside(r / 0.93, edge)
        brain = _soft_inside(r / 0.87, edge)
        white = _soft_inside(r / 0.62, 2 * edge)
        magnitude = _TISSUE["scalp"] * (head - inner_skull) + _TISSUE["skull"] * (inner_skull - brain)
        tissue = _TISSUE["grey"] + (_TISSUE["white"] - _TISSUE["grey"]) * white
        for side in (-1.0, 1.0):
            size = self.ventricle_size * math.exp(-2.0 * z * z)
            ventricle = _ellipse_radius(y, x, 0.05, side * 0.12, 2.2 * size, size, side * 0.3 + self.angle)
            tissue = tissue + (_TISSUE["csf"] - tissue) * _soft_inside(ventricle, edge / size)
        for centre, drift, axes, level in zip(
            self.blob_centres, self.blob_drift, self.blob_axes, self.blob_levels, strict=True
        ):
            cy, cx = (centre + drift * z).tolist()
            blob = _soft_inside(_ellipse_radius(y, x, cy, cx, float(axes[0]), float(axes[1]), 0.0), 2 * edge)
            tissue = tissue + float(level) * blob
        magnitude = magnitude + brain * tissue * _texture(self.wave_vectors, self.wave_phases, z, y, x)
        return magnitude * torch.exp(1j * _phase(self.phase_coeffs, z, y, x))


def _texture(
    vectors: torch.Tensor, phases: torch.Tensor, z: float, y: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """Smooth multiplicative texture around 1 (a sum of low-frequency 3-D cosines)."""
    texture = torch.ones_like(y)
    for (ky, kx, kz), phase in zip(vectors.tolist(), phases.tolist(), strict=True):
        texture = texture + 0.05 * torch.cos(ky * y + kx * x + kz * z + phase)
    return texture


def _phase(coeffs: torch.Tensor, z: float, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Smooth background phase (linear + quadratic), slowly varying with z."""
    c0, cy, cx, cq = coeffs.tolist()
    return c0 + cy * y + cx * x + cq * (y * y + x * x) + 0.3 * z


@dataclass(frozen=True)
class Lesion:
    """A focal lesion: centre (cy, cx) and semi-axes (ay, ax) in normalised units, the slab |z - cz| < dz
    where it shows, and its contrast (added to the tissue's level)."""

    cy: float
    cx: float
    ay: float
    ax: float
    cz: float
    dz: float
    level: float

    def visible(self, z: float) -> bool:
        return abs(z - self.cz) < self.dz


class KneePhantom:
    """One knee volume (sagittal-like cut): soft tissue with a fat rim, femur above and tibia below a joint
    space, each bone a marrow core in a dark cortical rim capped by bright cartilage, a smooth texture, and
    2-4 focal lesions in the bones near the joint whose boxes the synthetic files record as annotations."""

    def __init__(self, generator: torch.Generator, num_waves: int = 6) -> None:
        g = generator
        self.tissue_axes = (float(_uniform(g, 0.8, 0.9)), float(_uniform(g, 0.62, 0.75)))
        self.joint = float(_uniform(g, -0.08, 0.08))  # row of the joint space
        self.bone_width = float(_uniform(g, 0.38, 0.46))
        self.wave_vectors = _uniform(g, -6.0, 6.0, (num_waves, 3))
        self.wave_phases = _uniform(g, 0.0, 2 * math.pi, (num_waves,))
        self.phase_coeffs = _uniform(g, -0.6, 0.6, (4,))
        self.lesions = [self._lesion(g) for _ in range(int(torch.randint(2, 5, (), generator=g)))]

    def _lesion(self, g: torch.Generator) -> Lesion:
        side = 1.0 if float(_uniform(g, -1.0, 1.0)) > 0 else -1.0  # tibia or femur
        return Lesion(
            cy=self.joint + side * float(_uniform(g, 0.15, 0.35)),
            cx=float(_uniform(g, -0.25, 0.25)),
            ay=float(_uniform(g, 0.06, 0.16)),
            ax=float(_uniform(g, 0.06, 0.16)),
            cz=float(_uniform(g, -0.4, 0.4)),
            dz=float(_uniform(g, 0.2, 0.4)),
            level=float(_uniform(g, 0.25, 0.45)),
        )

    def slice_image(self, z: float, y: torch.Tensor, x: torch.Tensor, edge: float) -> torch.Tensor:
        """Complex image (H, W) of the cut at z in [-1, 1]; magnitude at most about 1.3."""
        shrink = math.sqrt(max(1.0 - 0.5 * z * z, 0.2))
        ty, tx = self.tissue_axes
        tissue = _soft_inside(_ellipse_radius(y, x, 0.0, 0.0, ty, tx * shrink, 0.0), edge)
        muscle = _soft_inside(_ellipse_radius(y, x, 0.0, 0.0, 0.92 * ty, 0.88 * tx * shrink, 0.0), edge)
        magnitude = 0.9 * (tissue - muscle) + 0.45 * muscle
        width = self.bone_width * shrink
        for side in (-1.0, 1.0):
            centre = self.joint + side * 0.58
            bone = _ellipse_radius(y, x, centre, 0.0, 0.52, width, 0.0)
            cartilage = _soft_inside(bone / 1.08, edge) - _soft_inside(bone, edge)
            cortex = _soft_inside(bone, edge) - _soft_inside(bone / 0.93, edge)
            marrow = _soft_inside(bone / 0.93, edge)
            magnitude = magnitude + 0.35 * cartilage - 0.35 * cortex + 0.25 * marrow
        for lesion in self.lesions:
            if lesion.visible(z):
                radius = _ellipse_radius(y, x, lesion.cy, lesion.cx, lesion.ay, lesion.ax, 0.0)
                magnitude = magnitude + lesion.level * _soft_inside(radius, 2 * edge)
        magnitude = tissue * magnitude * _texture(self.wave_vectors, self.wave_phases, z, y, x)
        return magnitude * torch.exp(1j * _phase(self.phase_coeffs, z, y, x))

    def lesion_boxes(self, z: float, crop: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """(x, y, width, height) pixel boxes of the lesions visible at z in the crop (the region [-1, 1]²)."""
        boxes = []
        for lesion in self.lesions:
            if lesion.visible(z):
                top, left = (
                    (lesion.cy - lesion.ay + 1) * crop[0] / 2,
                    (lesion.cx - lesion.ax + 1) * crop[1] / 2,
                )
                height, width = 2 * lesion.ay * crop[0] / 2, 2 * lesion.ax * crop[1] / 2
                boxes.append((math.floor(left), math.floor(top), math.ceil(width), math.ceil(height)))
        return boxes


def normalised_grid(height: int, width: int, extent: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W) float64 coordinates, 0 at the FFT centre (H // 2, W // 2), +-1 at the crop region's borders."""
    y = (torch.arange(height, dtype=torch.float64) - height // 2) / (extent[0] / 2)
    x = (torch.arange(width, dtype=torch.float64) - width // 2) / (extent[1] / 2)
    return torch.meshgrid(y, x, indexing="ij")


def birdcage_sensitivities(
    num_coils: int, y: torch.Tensor, x: torch.Tensor, radius: float = 1.5
) -> torch.Tensor:
    """(C, H, W) complex128 smooth coil maps of coils evenly spaced on a ring, with RSS 1 at every pixel.

    Each coil's magnitude falls off with distance from it and its phase turns with the viewing angle, like
    the birdcage model; a softening length keeps the maps finite next to a coil.
    """
    maps = []
    for c in range(num_coils):
        angle = 2 * math.pi * c / num_coils
        cy, cx = radius * math.sin(angle), radius * math.cos(angle)
        dy, dx = y - cy, x - cx
        distance = torch.sqrt(dy * dy + dx * dx + 0.25)
        maps.append(torch.exp(1j * (torch.atan2(dy, dx) + angle)) / distance)
    sens = torch.stack(maps)
    return sens / torch.sqrt((sens.abs() ** 2).sum(0, keepdim=True))
