"""fastMRI+ lesion boxes as the 2026 image files store them: JSON in `attrs['annotations']`.

Format: `{"<slice index>": [{"x": int, "y": int, "width": int, "height": int, "label": str}, ...], ...}` in
the cropped image's pixel space (384 x 384 for the challenge); x is the column, y the row of the top-left
corner. Slices without lesions are absent. The organisers' files keep only boxes wider and taller than 16 px.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fastmri_pl.errors import DataError

ANNOTATIONS_ATTR = "annotations"
_FIELDS = ("x", "y", "width", "height")


@dataclass(frozen=True)
class Box:
    """One lesion box: top-left corner (x = column, y = row), size in pixels, and its label."""

    x: int
    y: int
    width: int
    height: int
    label: str = ""

    def clipped(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) of the box inside an image of that size (possibly empty)."""
        col0, row0 = max(0, self.x), max(0, self.y)
        col1, row1 = min(width, self.x + self.width), min(height, self.y + self.height)
        return row0, row1, col0, col1


def parse_annotations(text: str | bytes, path: str | Path) -> dict[int, list[Box]]:
    """Slice index -> boxes; a malformed attribute is a DataError naming the file."""
    try:
        raw = json.loads(text)
    except (TypeError, ValueError) as error:
        raise DataError(path, f"attrs '{ANNOTATIONS_ATTR}' is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise DataError(path, f"attrs '{ANNOTATIONS_ATTR}' must be a JSON object of slice -> boxes")
    boxes: dict[int, list[Box]] = {}
    for key, entries in raw.items():
        if not str(key).isdigit() or not isinstance(entries, list):
            raise DataError(path, f"attrs '{ANNOTATIONS_ATTR}': entry {key!r} is not 'slice index': [boxes]")
        boxes[int(key)] = [_box(entry, key, path) for entry in entries]
    return boxes


def _box(entry: object, key: str, path: str | Path) -> Box:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(f), int) for f in _FIELDS):
        raise DataError(path, f"attrs '{ANNOTATIONS_ATTR}': slice {key} has a box without integer {_FIELDS}")
    return Box(*(entry[f] for f in _FIELDS), label=str(entry.get("label", "")))


def annotations_json(boxes: dict[int, list[Box]]) -> str:
    """The attribute's text for slice index -> boxes (slices without boxes left out)."""
    return json.dumps({str(s): [asdict(b) for b in found] for s, found in sorted(boxes.items()) if found})
