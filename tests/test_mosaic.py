"""The slice mosaics of the reportlets: orientation, thick slices, the removed region."""

from __future__ import annotations

import numpy as np
import pytest

from bids_deface.reports.mosaic import cut_index, hex_color, mosaic_row, overlay, row_svg, window


def _phantom(zooms=(1.0, 1.0, 1.0)):
    """A 40x50x30 canonical volume: background 0, a box 100, a bright marker anterior-superior-left."""
    data = np.zeros((40, 50, 30), np.float32)
    data[5:35, 5:45, 5:25] = 100.0
    data[5:10, 40:45, 20:25] = 300.0  # left (low x), anterior (high y), superior (high z)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = [-20.0, -25.0, -15.0]
    return data, affine


def test_window_maps_limits_to_black_and_white():
    assert window(np.array([0.0, 50.0, 100.0, 200.0]), 0.0, 100.0).tolist() == [0, 127, 255, 255]


def test_cut_index_inverts_the_affine_and_clips():
    _, affine = _phantom()
    assert cut_index(affine, "y", 0.0, 50) == 25
    assert cut_index(affine, "x", -1000.0, 40) == 0
    assert cut_index(affine, "z", 1000.0, 30) == 29


@pytest.mark.parametrize(
    ("mode", "coord", "where"),
    [
        ("x", -13.0, "top right"),  # sagittal: anterior right, superior up
        ("z", 7.0, "top left"),  # axial: the subject's left on the left, anterior up
        ("y", 17.0, "top left"),  # coronal: left on the left, superior up
    ],
)
def test_slices_read_like_nilearn(mode, coord, where):
    data, affine = _phantom()
    row, labels = mosaic_row(data, affine, mode, [coord], vmin=0.0, vmax=300.0)
    bright = np.argwhere(row[..., 0] == 255)
    assert bright.size, "the marker must be on its slice"
    rows, cols = row.shape[:2]
    y, x = bright.mean(axis=0)
    assert y < rows / 2
    assert (x > cols / 2) if where.endswith("right") else (x < cols / 2)
    assert labels == [(0, f"{mode}={coord:.0f}")]


def test_thick_slices_are_stretched_to_square_pixels():
    data, affine = _phantom(zooms=(1.0, 1.0, 3.0))
    row, _ = mosaic_row(data, affine, "x", [0.0], vmin=0.0, vmax=300.0)
    assert row.shape[:2] == (90, 50)  # 30 slices of 3 mm tall, 50 voxels of 1 mm wide


def test_rows_place_slices_side_by_side_and_fill_the_region():
    data, affine = _phantom()
    region = np.zeros(data.shape, bool)
    region[:, 30:, :] = True  # everything anterior of y = 5 mm
    row, labels = mosaic_row(data, affine, "z", [-5.0, 5.0], vmin=0.0, vmax=300.0, region=region)
    assert row.shape == (50, 40 * 2 + 4, 3)
    assert [x for x, _ in labels] == [0, 44]
    red = (row[..., 0] > row[..., 1]) & (row[..., 0] > row[..., 2])
    assert red[:20].any() and not red[21:].any()  # anterior (top) only


def test_overlay_outlines_the_region_in_full_colour():
    grey = np.full((9, 9), 100, np.uint8)
    region = np.zeros((9, 9), bool)
    region[2:7, 2:7] = True
    rgb = overlay(grey, region, hex_color("#ff0000"))
    assert tuple(rgb[2, 4]) == (255, 0, 0)  # the outline
    assert rgb[4, 4, 0] > 100 and rgb[4, 4, 1] < 100  # the tinted inside
    assert tuple(rgb[0, 0]) == (100, 100, 100)


def test_row_svg_embeds_one_png_and_escapes_labels():
    svg = row_svg(np.zeros((10, 20, 3), np.uint8), [(0, "x=<1>")], "row-x", title="a & b")
    assert svg.count("<image") == 1 and "data:image/png;base64," in svg
    assert "x=&lt;1&gt;" in svg and "a &amp; b" in svg
    assert 'viewBox="0 0 20 28"' in svg
