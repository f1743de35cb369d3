"""Landscape figures state what they plot: the drawn artists (labels, levels, markers) checked."""

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.contour import ContourSet

from optlab.plot import landscape as pl

A = np.linspace(-2.0, 2.0, 21)
BOWL = np.add.outer((A**2 - 1) ** 2, 4 * A**2) + 0.08  # two minima of value 0.08 at (+-1, 0)


def _filled(ax) -> ContourSet:
    return next(c for c in ax.collections if isinstance(c, ContourSet) and c.filled)


def _colorbar_label(fig) -> str:
    return fig.axes[1].get_ylabel()


def test_default_contour_is_the_loss_with_labelled_levels():
    fig = pl.contour(A, A, BOWL, levels=12, quantity="training loss")
    ax = fig.axes[0]
    cs = _filled(ax)
    assert len(cs.levels) == 12 and cs.norm.__class__ is colors.Normalize
    np.testing.assert_allclose([cs.levels[0], cs.levels[-1]], [BOWL.min(), BOWL.max()])
    assert _colorbar_label(fig) == "training loss"
    labels = [t.get_text() for t in ax.texts]  # clabel writes the level values
    assert any(abs(float(t) - lv) < 1e-2 * lv for t in labels if t for lv in cs.levels[1:])


def test_log_scale_is_of_the_loss_itself_and_above_min_only_when_asked():
    fig = pl.contour(A, A, BOWL, scale="log", quantity="loss")
    cs = _filled(fig.axes[0])
    assert isinstance(cs.norm, colors.LogNorm)
    assert cs.norm.vmin == pytest.approx(BOWL.min())  # not 1e-5: the loss, not loss - min
    assert _colorbar_label(fig) == "loss (log scale)"
    fig = pl.contour(A, A, BOWL, scale="above-min")
    assert _colorbar_label(fig).startswith("loss $-$ min (log scale; min = 0.08")
    # a log scale of a quantity that is not positive does not exist: the label says what is drawn
    fig = pl.contour(A, A, BOWL - 1.0, log_scale=True)
    assert "$-$ min" in _colorbar_label(fig)
    with pytest.raises(ValueError, match="scale must be one of"):
        pl.contour(A, A, BOWL, scale="log10")


def test_named_points_and_shared_scale():
    pts = {"seed 0": (1.0, 0.0), "seed 1": (-1.0, 0.0)}
    fig = pl.contour(A, A, BOWL, points=pts, vmin=0.0, vmax=5.0, levels=11)
    ax = fig.axes[0]
    drawn = {ln.get_label(): ln.get_xydata()[0] for ln in ax.lines if ln.get_marker() == "P"}
    assert set(drawn) == set(pts)
    for name, p in pts.items():
        np.testing.assert_allclose(drawn[name], p)
    assert {t.get_text() for t in ax.texts} >= set(pts)
    cs = _filled(ax)
    np.testing.assert_allclose(cs.levels, np.linspace(0.0, 5.0, 11))  # vmin/vmax honoured


def test_surface_has_no_needle_and_says_what_z_is():
    fig = pl.surface(A, A, BOWL, scale="log", quantity="training loss")
    ax = fig.axes[0]
    assert ax.get_zlabel() == "log10(training loss)"
    # faces coloured from log10(loss) in [-1.1, 2.5]: no needle down to a floor like -5
    z = ax.collections[0].get_array()
    assert np.log10(BOWL.min()) <= np.nanmin(z) and np.nanmax(z) <= np.log10(BOWL.max())
    assert ax.get_zlim()[0] > np.log10(BOWL.min()) - 0.5
    fig = pl.surface(A, A, BOWL - 1.0, scale="above-min")
    assert fig.axes[0].get_zlabel().startswith("loss $-$ min")
    assert pl.surface(A, A, BOWL).axes[0].get_zlabel() == "loss"


def test_interpolation_twin_axes_and_plane_labels():
    t = np.linspace(-0.5, 1.5, 9)
    fig = pl.interpolation(
        t,
        {"train": 1 + t**2, "test": 1.2 + t**2},
        {"train": 1 - 0.1 * t**2, "test": 0.9 - 0.1 * t**2},
        marks={"seed 0": 0.0, "seed 1": 1.0},
    )
    ax, twin = fig.axes
    assert ax.get_ylabel() == "loss (solid)" and twin.get_ylabel() == "accuracy (dashed)"
    assert len([ln for ln in ax.lines if ln.get_linestyle() == "-"]) == 2
    assert len(twin.lines) == 2
    x, y = pl.plane_labels({"directions": "pca", "explained_variance_ratio": [0.92, 0.061]})
    assert x == "PC1 (92.0% of variance)" and y == "PC2 (6.1% of variance)"
    assert pl.plane_labels({"directions": "axes"}) == ("x", "y")


def test_standard_curve_follows_the_given_line_or_says_which_row(tmp_path):
    betas = np.linspace(-1.0, 0.9, 20)  # no beta = 0 on this grid
    res = {"minima": [], "saddles": [], "merge_tree": []}
    line = {"t": A, "values": {"loss": BOWL[:, 3]}, "title": "along the line through X and Y"}
    pl.save_standard_figures(
        tmp_path, A, betas, BOWL[:, :20], res, basins=np.zeros((21, 20), int), title="t",
        line=line, accuracy=0.5 * np.ones((21, 20)),
    )  # fmt: skip
    for name in ("contour", "basins", "surface", "disconnectivity", "curve", "accuracy"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    fig = pl.curves(A, {"x": BOWL[:, 3]}, title=line["title"])
    assert fig.axes[0].get_title() == "along the line through X and Y"


def test_spectrum_takes_what_spectral_density_returns():
    grid = np.linspace(0, 2, 50)
    dens = np.exp(-((grid - 1) ** 2))
    fig = pl.spectrum([1.9, 1.0], density=(grid, dens, {"theta": np.ones((1, 2))}))
    assert fig.axes[0].get_ylabel() == "density"
    with pytest.raises(ValueError, match="density must be"):
        pl.spectrum(density=(grid,))
