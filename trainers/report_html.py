"""eval/report.html: one self-contained page (inline CSS, PNGs as data URIs, plots as inline SVG; no network).

Its plots, and an experiment's, are matplotlib figures rendered once each as an SVG document (`svg_document`):
written as a file for a paper or a slide, and inlined in the page (`inline_svg`)."""
import base64
import html
import io
import json
import textwrap

import numpy as np
import tensorflow as tf

from tfvae.files import atomic_write

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; } th, td { padding: 3px 8px; border: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; text-align: center; }
figure img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 380px; }
figcaption { font-size: 0.8em; max-width: 380px; } pre { font-size: 0.75em; white-space: pre-wrap; }
figure svg { max-width: 100%; height: auto; }
"""

# After loading, count the images the browser could not decode; a headless browser dumps the DOM with this marker.
_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var images = document.images, broken = 0;
  for (var i = 0; i < images.length; i++) { if (!images[i].complete || images[i].naturalWidth === 0) broken++; }
  var marker = document.getElementById('image-check');
  marker.setAttribute('data-total', images.length); marker.setAttribute('data-broken', broken);
  marker.textContent = images.length + ' images, ' + broken + ' broken';
});
"""


def png_data_uri(image):
    """image [H, W, C] in [0, 1] -> data:image/png;base64,..."""
    pixels = tf.cast(tf.round(np.clip(image, 0.0, 1.0) * 255.0), tf.uint8)
    return "data:image/png;base64," + base64.b64encode(tf.io.encode_png(pixels).numpy()).decode()


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _set_order(name):
    for rank, prefix in enumerate(("samples/", "low_posterior", "interpolations", "reconstructions", "test")):
        if name.startswith(prefix):
            return rank, name
    return 9, name


def _sample_table(values_by_metric, set_names):
    """Rows: metrics; columns: the evaluated sets."""
    columns = sorted(set_names, key=_set_order)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for name, values in values_by_metric.items():
        cells = "".join(f'<td class="number">{_format(values[c]) if c in values else ""}</td>' for c in columns)
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _latent_table(values_by_metric):
    rows = [f'<tr><th>{html.escape(name)}</th><td>{html.escape(key)}</td><td class="number">{_format(value)}</td></tr>'
            for name, values in values_by_metric.items() for key, value in values.items()]
    return f"<table><tr><th>metric</th><th>variant</th><th>value</th></tr>{''.join(rows)}</table>"


def _metric_tables(report, sets):
    sample = {n: v for n, v in report["metrics"].items() if set(v) <= sets}
    latent = {n: v for n, v in report["metrics"].items() if n not in sample}
    parts = []
    if sample:
        parts += ["<h3>On images (against the test split)</h3>", _sample_table(sample, sets)]
    if report.get("uncertainty"):
        parts += ["<h3>Standard errors (KID: over subsets; score: over splits)</h3>",
                  _sample_table(report["uncertainty"], sets)]
    if latent:
        parts += ["<h3>Latent space and likelihood</h3>", _latent_table(latent)]
    return "".join(parts)


def _figure(width, height):
    """An empty matplotlib figure (inches). No pyplot: nothing global, no display; PNGs are drawn by Agg."""
    from matplotlib.figure import Figure  # imported where figures are drawn: no tfvae module needs it on import

    return Figure(figsize=(width, height), layout="constrained")


def _wrap(text, width):
    """`text` on lines of at most `width` characters: matplotlib cuts a title wider than its figure."""
    return "\n".join(textwrap.wrap(text, width))


def svg_document(figure):
    """The figure as a standalone SVG document, for a file (vector: a paper or a slide at any size) and, through
    `inline_svg`, for a page; its text kept as text (searchable, and smaller). One rendering serves both."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue().decode("utf-8")


def inline_svg(document):
    """The `<svg>` element of an SVG document, without the XML declaration and doctype a page cannot hold."""
    return document[document.index("<svg"):]


def line_plot(title, xs, series, x_label, y_label, log_y=False):
    """A line plot of one or more series over shared x values, with a legend when there are several.

    Args:
        title, x_label, y_label: str.
        xs: [N] x values.
        series: dict label -> [N] y values (NaN or None leaves a gap).
        log_y: bool. A logarithmic y axis (non-positive values left out). Defaults to False.

    Returns:
        A matplotlib `Figure`, for `svg_document`.
    """
    figure = _figure(6.4, 4.0)
    axes = figure.subplots()
    for label, ys in series.items():
        axes.plot(xs, np.asarray(ys, np.float64), marker="o", markersize=3, label=label)
    if log_y:
        axes.set_yscale("log", nonpositive="mask")
    axes.set(title=_wrap(title, 64), xlabel=x_label, ylabel=y_label)
    axes.grid(alpha=0.3)
    if len(series) > 1:
        axes.legend()
    return figure


def scatter_panels(title, panels, columns=2):
    """Square scatter panels in a grid (e.g. a model's latent space beside its data space), a legend in each.

    Args:
        title: str.
        panels: list of dicts with `title` (str), `extent` ((low, high) of both axes), `series` (list of
            (points [N, 2], color, radius in points, label)), optionally `axes` ((x label, y label)) and
            `background` (a relative density [H, W] in [0, 1] over the extent, first row at the top, shaded grey
            under the points; `density_background`).
        columns: int. Panels per row.

    Returns:
        A matplotlib `Figure`, for `svg_document`.
    """
    rows = -(-len(panels) // columns)
    figure = _figure(3.2 * columns, 4.0 * rows)
    figure.suptitle(_wrap(title, 32 * columns))
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        low, high = panel["extent"]
        if panel.get("background") is not None:
            axes.imshow(panel["background"], extent=(low, high, low, high), cmap="Greys", vmin=0.0, vmax=2.0)
        for points, color, radius, label in panel["series"]:
            points = np.asarray(points, np.float64)
            axes.scatter(points[:, 0], points[:, 1], s=(2 * radius) ** 2, color=color, linewidths=0, label=label)
        x_label, y_label = panel.get("axes", ("", ""))
        axes.set(title=_wrap(panel["title"], 30), xlim=(low, high), ylim=(low, high), aspect="equal", xlabel=x_label,
                 ylabel=y_label)
        # Under the panel, where it hides no point.
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize="x-small", frameon=False)
    return figure


def density_background(log_density, extent, size=96):
    """exp(log_density) relative to its maximum over a grid of the square extent, first row at the top: the
    `background` of a `scatter_panels` panel; log_density: callable [M, 2] -> [M]."""
    low, high = extent
    axis = np.linspace(low, high, size)
    grid = np.stack(np.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, 2).astype(np.float32)
    values = np.asarray(log_density(grid), np.float64).reshape(size, size)
    return np.exp(values - values.max())


def latent_scatter(latents, log_prior, size=256, levels=(0.5, 0.9, 0.99),
                   title="Test posterior means over the prior"):
    """2-D latents over the prior: grey shading of p(z), labelled contours enclosing the given prior probability
    mass, the latents as dots.

    Args:
        latents: [N, 2].
        log_prior: callable [M, 2] -> [M].
        size: int. Grid points per axis for the density.
        levels: tuple of float. Prior mass inside each contour.
        title: str.

    Returns:
        A matplotlib `Figure`, for `svg_document`.
    """
    latents = np.asarray(latents, np.float64)
    span = max(3.5, float(np.abs(latents).max()) * 1.05)
    axis = np.linspace(-span, span, size)
    density = density_background(log_prior, (-span, span), size)[::-1]  # first row at the bottom, as contour reads
    # The contour of the region holding `level` of the prior mass on the grid: the density of the cell where the
    # cumulative mass of the cells, densest first, reaches `level`.
    cells = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(cells) / cells.sum()
    thresholds = {cells[min(np.searchsorted(cumulative, level), len(cells) - 1)]: f"{level:.0%}" for level in levels}
    figure = _figure(5.2, 4.8)
    axes = figure.subplots()
    axes.imshow(density, extent=(-span, span, -span, span), origin="lower", cmap="Greys", vmin=0.0, vmax=2.0)
    contours = axes.contour(axis, axis, density, levels=sorted(thresholds), colors="tab:blue", linewidths=1)
    axes.clabel(contours, fmt=thresholds, fontsize="small")
    axes.plot([], [], color="tab:blue", linewidth=1, label="contours of the prior mass")
    axes.scatter(latents[:, 0], latents[:, 1], s=6, color="tab:red", linewidths=0, label="test posterior means")
    axes.set(title=_wrap(title, 50), xlabel="$z_1$", ylabel="$z_2$", xlim=(-span, span), ylim=(-span, span),
             aspect="equal")
    axes.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return figure


def metric_plots(extras):
    """{title: Figure} of the curves some metrics return besides their numbers (`Measurement.extra`)."""
    figures = {}
    if extras.get("leakage"):
        leakage = extras["leakage"]
        title = "Leakage score LS(tau) (dpVAE eq. 6)"
        figures[title] = line_plot(title, leakage["thresholds"], {"LS(tau)": leakage["scores"]},
                                   "tau = log p(h(z)) threshold", "LS(tau)")
    if extras.get("singular_values"):
        values = extras["singular_values"]
        title = "Singular values of the test posterior means"
        figures[title] = line_plot(title, np.arange(1, len(values) + 1), {"singular value": values}, "index",
                                   "singular value", log_y=True)
    if extras.get("sample_spectrum"):
        spectra = extras["sample_spectrum"]
        title = "Singular values of latent sample matrices (two-stage VAE paper, figure 2)"
        figures[title] = line_plot(title, np.arange(1, len(spectra["N(0, I)"]) + 1), spectra, "index",
                                   "singular value / sqrt(N)", log_y=True)
    return figures


def render(report, figures, plots):
    """The HTML text of the report: `figures` {caption: image [H, W, C]} as PNGs, `plots` {caption: SVG document}
    inline."""
    title = f"tfvae evaluation: {report['model']} on {report['dataset']}"
    sections = [f"<h1>{html.escape(title)}</h1>",
                f"<p>Samplers: {html.escape(', '.join(report['samplers']))} (default "
                f"{html.escape(report['default_sampler'])}); {report['num_samples']} samples per set against the test "
                f"split. Lower is better for distances (fd, fid, kid, mmd, kl, critic, nll), higher for precision, "
                f"recall, PRD F-scores, Inception-style scores and diversity.</p>",
                '<p id="image-check">image check pending (needs JavaScript)</p>',
                "<h2>Metrics</h2>", _metric_tables(report, set(report.get("sets", [])))]
    sections += ["<h2>Images</h2>"]
    for caption, image in figures.items():
        sections.append(f'<figure><img alt="{html.escape(caption)}" src="{png_data_uri(image)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if plots:  # each also an SVG file, named in report.json's "figures" (its path under the report's folder)
        sections += ["<h2>Plots</h2>"] + [
            f"<figure>{inline_svg(plot)}<figcaption>{html.escape(report['figures'][caption])}</figcaption></figure>"
            for caption, plot in plots.items()]
    sections += ["<h2>Protocol</h2>", "<p>How every number was measured (also in report.json).</p>",
                 f"<pre>{html.escape(json.dumps(report['protocol'], indent=1, default=str))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_CHECK_SCRIPT}</script></head>"
            f"<body>{''.join(sections)}</body></html>\n")
