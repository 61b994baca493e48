"""Slice mosaics drawn with NumPy and OpenCV, wrapped in SVG for nireports' ``compose_view``.

nilearn's ``plot_anat`` with ``add_contours`` took 2-7 s of CPU per reportlet on a 1 mm
head (filled contours through NumPy masked arrays, then matplotlib's SVG backend), as
long as a whole check. A reportlet here shows the same things -- grey slices windowed
between two intensity percentiles, a region filled and outlined, each cut's coordinate --
as one PNG per row of slices, in about a tenth of a second.

Images come in the closest canonical (RAS) orientation (:func:`.reportlets.canonical_3d`)
and are shown as nilearn shows them: sagittal slices with anterior to the right, axial
and coronal slices with the subject's left on the left, superior (or anterior) up.
"""

from __future__ import annotations

import base64
from html import escape

import numpy as np

#: Black gap between two slices of a row, in pixels.
GAP = 4
#: Room under the slices for the cut coordinates, in pixels.
LABEL_ROOM = 18
_AXIS = {"x": 0, "y": 1, "z": 2}


def window(data: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Grey levels 0-255 of ``data`` between ``vmin`` (black) and ``vmax`` (white)."""
    scaled = (np.asarray(data, np.float32) - vmin) * (255.0 / max(vmax - vmin, 1e-6))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def cut_index(affine: np.ndarray, mode: str, coord: float, size: int) -> int:
    """Voxel index, along the axis of ``mode`` (``x``, ``y``, ``z``), of a world coordinate.

    ``affine`` is a canonical image's: its axes run along x, y and z.
    """
    axis = _AXIS[mode]
    index = (coord - affine[axis, 3]) / affine[axis, axis]
    return int(np.clip(round(float(index)), 0, size - 1))


def _plane(volume: np.ndarray, mode: str, index: int) -> np.ndarray:
    """One slice as a picture: the first remaining axis to the right, the second up."""
    return volume[(slice(None),) * _AXIS[mode] + (index,)].T[::-1]


def _pixel_size(zooms: np.ndarray, mode: str) -> tuple[float, float]:
    """Millimetres per voxel across and down a slice of ``mode``."""
    across, down = (zooms[i] for i in range(3) if i != _AXIS[mode])
    return float(across), float(down)


def _resize(picture: np.ndarray, zooms: np.ndarray, mode: str, nearest: bool) -> np.ndarray:
    """Square pixels of the finest voxel size (thick slices are stretched)."""
    import cv2

    across, down = _pixel_size(zooms, mode)
    finest = float(min(zooms))
    shape = (max(1, round(picture.shape[1] * across / finest)), max(1, round(picture.shape[0] * down / finest)))
    if shape == (picture.shape[1], picture.shape[0]):
        return picture
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(picture, shape, interpolation=interpolation)


def overlay(grey: np.ndarray, region: np.ndarray, color: tuple[int, int, int], alpha: float = 0.35) -> np.ndarray:
    """An RGB picture: ``region`` filled with ``color`` at ``alpha`` and outlined in it."""
    import cv2

    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    fill = region.astype(bool)
    rgb[fill] = (1 - alpha) * rgb[fill] + alpha * np.asarray(color, np.float32)
    edge = fill & ~cv2.erode(fill.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    rgb[edge] = color
    return rgb.astype(np.uint8)


def hex_color(color: str) -> tuple[int, int, int]:
    """``"#e8393c"`` -> ``(232, 57, 60)``."""
    value = color.lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


def mosaic_row(
    volume: np.ndarray,
    affine: np.ndarray,
    mode: str,
    coords: list[float],
    *,
    vmin: float,
    vmax: float,
    region: np.ndarray | None = None,
    color: tuple[int, int, int] = (232, 57, 60),
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Slices of ``volume`` at ``coords`` side by side: the picture, and each cut's (x, label).

    ``region`` (boolean, the volume's grid) is filled and outlined in ``color``.
    """
    zooms = np.abs(np.diag(affine)[:3])
    tiles, labels, left = [], [], 0
    for coord in coords:
        index = cut_index(affine, mode, coord, volume.shape[_AXIS[mode]])
        tile = _resize(window(_plane(volume, mode, index), vmin, vmax), zooms, mode, nearest=False)
        tile = np.repeat(tile[..., None], 3, axis=2)
        if region is not None:
            mask = _resize(_plane(region, mode, index).astype(np.uint8), zooms, mode, nearest=True)
            if mask.any():
                tile = overlay(tile[..., 0], mask, color)
        tiles.append(tile)
        labels.append((left, f"{mode}={coord:.0f}"))
        left += tile.shape[1] + GAP
    height = max(t.shape[0] for t in tiles)
    row = np.zeros((height, left - GAP, 3), np.uint8)
    for tile, (x, _) in zip(tiles, labels):
        top = (height - tile.shape[0]) // 2
        row[top : top + tile.shape[0], x : x + tile.shape[1]] = tile
    return row, labels


def row_svg(picture: np.ndarray, labels: list[tuple[int, str]], element_id: str, title: str | None = None) -> str:
    """A standalone SVG of one row: the picture as an embedded PNG, the labels as text."""
    import cv2

    ok, png = cv2.imencode(".png", np.ascontiguousarray(picture[..., ::-1]))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise RuntimeError("OpenCV could not encode a mosaic row as PNG")
    height, width = picture.shape[:2]
    total = height + LABEL_ROOM
    data = base64.b64encode(png.tobytes()).decode("ascii")
    text = "".join(
        f'<text x="{x + 3}" y="{height + 13}" fill="white" font-family="sans-serif" font-size="12">{escape(label)}</text>'
        for x, label in labels
    )
    if title:
        text += f'<text x="6" y="18" fill="white" font-family="sans-serif" font-size="16">{escape(title)}</text>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" id="{escape(element_id)}" '
        f'width="{width}" height="{total}" viewBox="0 0 {width} {total}">'
        f'<rect width="{width}" height="{total}" fill="black"/>'
        f'<image x="0" y="0" width="{width}" height="{height}" xlink:href="data:image/png;base64,{data}"/>'
        f"{text}</svg>"
    )
