"""The plots of report.html (evaluation and experiments), drawn with matplotlib: axes with ticks and labels, a
legend where there are several series, one SVG document per figure (the file) whose <svg> element the page
inlines, with each series drawn in its colour."""
import collections
import re
from xml.etree import ElementTree

import numpy as np

from tests.conftest import assert_svg_plot
from trainers import report_html

_BLUE, _ORANGE = "#1f77b4", "#ff7f0e"  # matplotlib's first two colours, those of two series
_SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg, gid=None):
    """The text of every <text> element (tick labels, axis labels, titles, legend entries), in the group
    matplotlib names `gid` (e.g. legend_1) or in the whole figure; whitespace removed."""
    root = ElementTree.fromstring(svg)
    if gid is not None:
        (root,) = [element for element in root.iter(f"{_SVG}g") if element.get("id") == gid]
    return [re.sub(r"\s+", "", "".join(text.itertext())) for text in root.iter(f"{_SVG}text")]


def _svg(figure, tmp_path=None):
    """The figure's inline <svg> element; with `tmp_path`, also checks that the document, written as a file, is a
    drawn plot."""
    document = report_html.svg_document(figure)
    inline = report_html.inline_svg(document)
    assert document.startswith("<?xml") and inline.startswith("<svg") and inline.count("<svg") == 1
    if tmp_path is not None:
        (tmp_path / "plot.svg").write_text(document)
        assert_svg_plot(tmp_path / "plot.svg")
    return inline


def _colours(svg):
    """{colour: how many elements (lines, markers, patches) the figure strokes or fills with it}."""
    return collections.Counter(re.findall(r"(?:stroke|fill): (#[0-9a-f]{6})", svg))


def test_a_line_plot_has_ticks_axis_labels_a_legend_and_its_series(tmp_path):
    figure = report_html.line_plot("Singular values", np.arange(1, 11),
                                   {"i.i.d. N(0, I)": np.linspace(1.5, 0.5, 10),
                                    "first stage q(z)": [3.0, 2.5, 2.0, None, 1.2, 1.0, 0.5, 0.2, 0.0, np.nan]},
                                   "index", "singular value", log_y=True)
    svg = _svg(figure, tmp_path)
    assert svg.rstrip().endswith("</svg>")
    assert svg.count('<g id="xtick_') >= 4 and svg.count('<g id="ytick_') >= 2
    texts = _texts(svg)
    assert {"2", "4", "6", "8", "10", "index", "singularvalue", "Singularvalues"} <= set(texts), texts
    assert any(text.startswith("10") for text in texts), texts  # a decade of the log axis
    legend = _texts(svg, "legend_1")
    assert legend == ["i.i.d.N(0,I)", "firststageq(z)"], legend
    colours = _colours(svg)
    assert colours[_BLUE] >= 10 and colours[_ORANGE] >= 7, colours  # both series, a marker at each finite point


def test_one_series_needs_no_legend():
    svg = _svg(report_html.line_plot("LS(tau)", [-2, -1, 0], {"LS(tau)": [0.1, 0.3, 0.2]}, "log10 mass",
                                                "LS(tau)"))
    assert 'id="legend_' not in svg and svg.count('<g id="xtick_') >= 3
    assert {"LS(tau)", "log10mass"} <= set(_texts(svg))


def test_scatter_panels_draw_each_panel_with_axes_a_legend_and_its_background(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.standard_normal((200, 2))
    background = report_html.density_background(lambda z: -0.5 * np.sum(z ** 2, axis=1), (-4.0, 4.0), size=32)
    assert background.shape == (32, 32) and background.max() == 1.0 and background[0, 0] < 1e-3
    panels = [{"title": "latent space", "extent": (-4.0, 4.0), "axes": ("z_1", "z_2"), "background": background,
               "series": [(points, "#1f77b4", 1.5, "posterior"), (points[:10] * 2, "#d62728", 3, "low posterior")]},
              {"title": "data space", "extent": (-3.0, 3.0),
               "series": [(points * 0.5, "#bbbbbb", 1.5, "test points"), (points + 1, "#ff7f0e", 1.5, "decoded")]},
              {"title": "another latent space", "extent": (-4.0, 4.0), "background": background,
               "series": [(points, "#1f77b4", 1.5, "posterior")]}]
    svg = _svg(report_html.scatter_panels("Two moons", panels, columns=2), tmp_path)
    assert svg.count("<svg") == 1 and svg.count("<image ") == 2  # one shaded background per panel that has one
    assert svg.count('<g id="legend_') == 3 and svg.count('<g id="axes_') == 3  # the grid's fourth cell is empty
    texts = _texts(svg)
    for text in ("Twomoons", "latentspace", "dataspace", "z_1", "z_2", "posterior", "lowposterior", "decoded"):
        assert text in texts, (text, texts)
    assert {"−2", "0", "2"} <= set(texts), texts  # tick labels (matplotlib's minus sign)
    colours = _colours(svg)
    assert all(colours[colour] >= 10 for colour in (_BLUE, _ORANGE, "#d62728", "#bbbbbb")), colours


def test_latent_scatter_labels_the_prior_mass_contours(tmp_path):
    latents = np.random.default_rng(1).standard_normal((300, 2))
    svg = _svg(report_html.latent_scatter(latents, lambda z: -0.5 * np.sum(z ** 2, axis=1), size=128), tmp_path)
    texts = _texts(svg)
    assert {"50%", "90%", "99%", "z1", "z2", "Testposteriormeansovertheprior"} <= set(texts), texts
    assert _texts(svg, "legend_1") == ["contoursofthepriormass", "testposteriormeans"]
    assert svg.count('<g id="xtick_') >= 5 and svg.count('<g id="ytick_') >= 5
    assert _colours(svg)["#d62728"] >= 300  # the latents' dots (tab:red), one per latent

