"""eval/report.html: one self-contained page (inline CSS, PNGs as data URIs, plots as inline SVG; no network)."""
import base64
import html
import json

import numpy as np
import tensorflow as tf

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; } th, td { padding: 3px 8px; border: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; text-align: center; }
figure img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 380px; }
figcaption { font-size: 0.8em; max-width: 380px; } pre { font-size: 0.75em; white-space: pre-wrap; }
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


def line_plot(title, xs, series, x_label, y_label, width=520, height=300, log_y=False):
    """An inline SVG line plot; series: {label: ys}."""
    margin = 50
    values = [np.asarray(ys, np.float64) for ys in series.values()]
    all_y = np.concatenate(values)
    all_y = all_y[np.isfinite(all_y)]
    if log_y:
        all_y = np.log10(np.maximum(all_y, 1e-12))
    xs = np.asarray(xs, np.float64)
    x0, x1 = xs.min(), xs.max() if xs.max() > xs.min() else xs.min() + 1
    y0, y1 = (all_y.min(), all_y.max()) if len(all_y) else (0.0, 1.0)
    if y1 <= y0:
        y0, y1 = y0 - 1, y1 + 1

    def point(x, y):
        y = np.log10(max(y, 1e-12)) if log_y else y
        return (margin + (x - x0) / (x1 - x0) * (width - 2 * margin),
                height - margin - (y - y0) / (y1 - y0) * (height - 2 * margin))

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    parts = [f'<svg width="{width}" height="{height}" role="img">',
             f'<title>{html.escape(title)}</title>',
             f'<rect x="{margin}" y="{margin}" width="{width - 2 * margin}" height="{height - 2 * margin}" '
             'fill="none" stroke="#999"/>',
             f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle" font-size="12">{html.escape(x_label)}'
             '</text>',
             f'<text x="12" y="{height / 2}" font-size="12" transform="rotate(-90 12 {height / 2})" '
             f'text-anchor="middle">{html.escape(y_label)}{" (log10)" if log_y else ""}</text>',
             f'<text x="{margin}" y="{margin - 8}" font-size="11">{y1:.3g}</text>',
             f'<text x="{margin}" y="{height - margin + 14}" font-size="11">{y0:.3g} | x from {x0:.3g} to '
             f'{x1:.3g}</text>']
    for index, (label, ys) in enumerate(series.items()):
        points = [point(x, y) for x, y in zip(xs, ys) if np.isfinite(y)]
        color = colors[index % len(colors)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                     + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in points]
        parts.append(f'<text x="{width - margin - 150}" y="{margin + 16 + 14 * index}" font-size="12" '
                     f'fill="{color}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter_panels(title, panels, columns=2, size=240):
    """An inline SVG of square scatter panels in a grid (e.g. a model's latent space beside its data space).

    Args:
        title: str.
        panels: list of dicts with `title` (str), `extent` ((low, high) of both axes), `series` (list of
            (points [N, 2], color, radius, label)) and optionally `background` (an image [H, W, 3] in [0, 1]
            spanning the extent, drawn under the points, first row at the top).
        columns: int. Panels per row.
        size: int. Pixels per panel side.
    """
    gap, header = 12, 30
    rows = -(-len(panels) // columns)
    width, height = columns * (size + gap) + gap, rows * (size + header + gap) + gap
    parts = [f'<svg width="{width}" height="{height}" role="img"><title>{html.escape(title)}</title>']
    for index, panel in enumerate(panels):
        left = gap + (index % columns) * (size + gap)
        top = gap + (index // columns) * (size + header + gap) + header
        low, high = panel["extent"]

        def position(points):
            scaled = (np.asarray(points, np.float64) - low) / (high - low) * size
            return left + scaled[:, 0], top + size - scaled[:, 1]

        parts.append(f'<text x="{left}" y="{top - 8}" font-size="11">{html.escape(panel["title"])}</text>')
        if panel.get("background") is not None:
            parts.append(f'<image x="{left}" y="{top}" width="{size}" height="{size}" preserveAspectRatio="none" '
                         f'href="{png_data_uri(panel["background"])}"/>')
        parts.append(f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>')
        for number, (points, color, radius, label) in enumerate(panel["series"]):
            xs, ys = position(points)
            inside = (xs >= left) & (xs <= left + size) & (ys >= top) & (ys <= top + size)
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}"/>'
                      for x, y in zip(xs[inside], ys[inside])]
            parts.append(f'<text x="{left + 4}" y="{top + 12 + 12 * number}" font-size="10" fill="{color}">'
                         f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def density_background(log_density, extent, size=96):
    """A grey image of exp(log_density) over the square extent (darker = denser), first row at the top, for
    `scatter_panels`; log_density: callable [M, 2] -> [M]."""
    low, high = extent
    axis = np.linspace(low, high, size)
    grid = np.stack(np.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, 2).astype(np.float32)
    values = np.asarray(log_density(grid), np.float64).reshape(size, size)
    density = np.exp(values - values.max())
    return np.repeat((1.0 - 0.45 * density)[..., None], 3, axis=-1)


def latent_scatter(latents, log_prior, size=256, levels=(0.5, 0.9, 0.99)):
    """A picture of 2-D latents over the prior: grey shading of p(z), contour lines enclosing the given prior
    probability mass, latents as dark dots.

    Args:
        latents: [N, 2].
        log_prior: callable [M, 2] -> [M].
    """
    latents = np.asarray(latents, np.float64)
    span = max(3.5, float(np.abs(latents).max()) * 1.05)
    axis = np.linspace(-span, span, size)
    grid = np.stack(np.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, 2)
    log_density = np.asarray(log_prior(grid.astype(np.float32)), np.float64).reshape(size, size)
    density = np.exp(log_density - log_density.max())
    picture = np.repeat((1.0 - 0.35 * density)[..., None], 3, axis=-1)
    # Contour of the region holding `level` of the prior mass on the grid: threshold the sorted cell masses.
    cells = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(cells) / cells.sum()
    for level in levels:
        threshold = cells[min(np.searchsorted(cumulative, level), len(cells) - 1)]
        inside = density >= threshold
        edge = inside ^ np.roll(inside, 1, axis=0) | inside ^ np.roll(inside, 1, axis=1)
        picture[edge] = [0.2, 0.4, 0.9]
    pixels = np.clip(((latents + span) / (2 * span) * (size - 1)).round().astype(int), 0, size - 1)
    for dx in (0, 1):
        for dy in (0, 1):
            rows = np.clip(size - 1 - pixels[:, 1] + dy, 0, size - 1)
            cols = np.clip(pixels[:, 0] + dx, 0, size - 1)
            picture[rows, cols] = [0.8, 0.1, 0.1]
    return picture


def render(report, figures, extras):
    """The HTML text of the report."""
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
    plots = []
    if extras.get("leakage"):
        leakage = extras["leakage"]
        plots.append(line_plot("Leakage score LS(tau) (dpVAE eq. 6)", leakage["thresholds"],
                                {"LS(tau)": leakage["scores"]}, "tau = log p(h(z)) threshold", "LS(tau)"))
    if extras.get("singular_values"):
        values = extras["singular_values"]
        plots.append(line_plot("Singular values of the test posterior means", np.arange(1, len(values) + 1),
                                {"singular value": values}, "index", "singular value", log_y=True))
    if extras.get("sample_spectrum"):
        spectra = extras["sample_spectrum"]
        plots.append(line_plot("Singular values of latent sample matrices (two-stage VAE paper, figure 2)",
                               np.arange(1, len(spectra["N(0, I)"]) + 1), spectra, "index",
                               "singular value / sqrt(N)", log_y=True))
    if plots:
        sections += ["<h2>Plots</h2>"] + [f"<figure>{plot}</figure>" for plot in plots]
    sections += ["<h2>Protocol</h2>", "<p>How every number was measured (also in report.json).</p>",
                 f"<pre>{html.escape(json.dumps(report['protocol'], indent=1, default=str))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_CHECK_SCRIPT}</script></head>"
            f"<body>{''.join(sections)}</body></html>\n")
