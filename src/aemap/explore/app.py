"""The explorer: Inglis et al.'s interactive importance app (``aim``'s shiny_vimp),
in Python, over every result of a results folder.

Controls as ``aim``: class, number of top dimensions, rotation, flips, filter
unused dimensions, sort by importance, light / dark. Beyond it: the experiment,
error bars from the permutations, the latent views with the class highlighted,
saliency maps and corruption curves, attribution visualisations per
perturbation, and each heatmap pixel's value and rank on hover. Read only.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402
from shiny import App, reactive, render, req, ui  # noqa: E402
from shiny.types import SafeException  # noqa: E402

from aemap.explore.data import (  # noqa: E402
    ROTATIONS,
    CorruptFile,
    Explorer,
    UnsafePath,
    class_dims,
    dim_heatmaps,
    natural,
    orient,
    pixel_ranks,
)
from aemap.plots.style import image_cmap  # noqa: E402 - the figures' colours for the data's images

HEAT_PX = 168  # displayed size of the longer side of a heatmap
MAX_TOP_K = 64

# Pixel hover: the value and rank of the pixel under the pointer, read from the
# heatmap's data attributes (no round trip to the server).
HOVER_JS = """
document.addEventListener('mousemove', function (event) {
  const img = event.target.closest ? event.target.closest('img.aemap-heat') : null;
  if (!img) return;
  const rows = Number(img.dataset.rows), cols = Number(img.dataset.cols);
  const box = img.getBoundingClientRect();
  const r = Math.min(rows - 1, Math.max(0, Math.floor((event.clientY - box.top) / box.height * rows)));
  const c = Math.min(cols - 1, Math.max(0, Math.floor((event.clientX - box.left) / box.width * cols)));
  if (!img._values) { img._values = JSON.parse(img.dataset.values); img._ranks = JSON.parse(img.dataset.ranks); }
  const i = r * cols + c;
  const out = document.getElementById('heat-hover');
  if (out) out.textContent = img.alt + ', row ' + r + ', col ' + c + ': value ' + img._values[i].toPrecision(3) +
    ', rank ' + img._ranks[i] + ' of ' + rows * cols;
});
"""

CSS = """
.aemap-heats { display: flex; flex-wrap: wrap; gap: 10px; }
.aemap-heats figure { margin: 0; text-align: center; }
.aemap-heats img { image-rendering: pixelated; border: 1px solid #8884; cursor: crosshair; }
.aemap-hover { font-family: monospace; font-size: 11px; min-height: 1.3em; }
.aemap-note { color: var(--bs-secondary-color); }
.aemap-attribution td, .aemap-attribution th { padding: 3px 6px; text-align: center; font-size: 12px; }
"""


def _png(rgba: np.ndarray, scale: int) -> str:
    image = Image.fromarray(rgba).resize((rgba.shape[1] * scale, rgba.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _signed_rgba(values: np.ndarray, limit: float) -> np.ndarray:
    """Red positive, blue negative, white zero, on [-limit, limit] (as the paper)."""
    scaled = 0.5 + 0.5 * np.clip(values / (limit or 1.0), -1, 1)
    return (colormaps["bwr"](scaled) * 255).astype(np.uint8)


def _grey_rgba(values: np.ndarray, cmap: str = "gray_r", low: float = 0.0, high: float = 1.0) -> np.ndarray:
    scaled = np.clip((values - low) / ((high - low) or 1.0), 0, 1)
    return (colormaps[cmap](scaled) * 255).astype(np.uint8)


def _scale_for(shape: tuple[int, ...]) -> int:
    return max(1, HEAT_PX // max(shape))


def _figure(dark: bool, width: float, height: float) -> Figure:
    # Tight, as Shiny lays its plots out anyway (it replaces a constrained layout, with a warning).
    fig = Figure(figsize=(width, height), layout="tight")
    colour = "#212529" if dark else "white"
    ink = "#dee2e6" if dark else "black"
    fig.set_facecolor(colour)
    fig.aemap_ink = ink  # type: ignore[attr-defined]
    return fig


def _style(ax, fig) -> None:
    ink = fig.aemap_ink
    ax.set_facecolor(fig.get_facecolor())
    for spine in ax.spines.values():
        spine.set_color(ink)
    ax.tick_params(colors=ink, labelsize=8)
    ax.xaxis.label.set_color(ink)
    ax.yaxis.label.set_color(ink)
    ax.title.set_color(ink)


def _tick_values(top: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values from 0 up to the first at or above ``top``:
    the axis ends on a labelled value, above the tallest bar and its whisker."""
    if top <= 0:
        return [0.0]
    raw = top / n
    magnitude = 10 ** np.floor(np.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    count = int(np.ceil(top / step * (1 - 1e-12)))
    return [float(step * i) for i in range(count + 1)]


def bar_chart_svg(dims: list[int], values: np.ndarray, errors: np.ndarray, title: str) -> str:
    """The importance bar chart as inline SVG (drawn in milliseconds, unlike a raster plot):
    one bar per dim with its whisker (sd over permutations); text in the page's colour,
    so it follows the light / dark theme."""
    width, height, left, right, top, bottom = 760, 260, 70, 10, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    errors = np.nan_to_num(np.asarray(errors, dtype=float))
    highest = float(np.max(np.asarray(values) + errors)) if len(values) else 1.0
    ticks = _tick_values(highest or 1.0)
    ceiling = max(ticks[-1], highest) or 1.0
    y = lambda v: top + plot_h * (1 - v / ceiling)  # noqa: E731
    slot = plot_w / max(len(dims), 1)
    parts = [
        f'<svg class="aemap-bars" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg" font-size="11" fill="currentColor">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="currentColor"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="currentColor"/>',
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">importance ± sd</text>',
    ]
    for t in ticks:
        parts.append(f'<text x="{left - 5}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.3g}</text>')
        parts.append(f'<line x1="{left - 3}" y1="{y(t):.1f}" x2="{left}" y2="{y(t):.1f}" stroke="currentColor"/>')
    for i, (d, v, e) in enumerate(zip(dims, values, errors, strict=True)):
        x0, w = left + i * slot + 0.15 * slot, 0.7 * slot
        cx = x0 + w / 2
        parts.append(
            f'<rect class="aemap-bar" data-dim="{d}" data-value="{v:.6g}" x="{x0:.1f}" y="{y(v):.1f}" '
            f'width="{w:.1f}" height="{y(0) - y(v):.1f}" fill="#d62728" fill-opacity="0.85"/>'
        )
        if e > 0:
            parts.append(
                f'<path d="M{cx:.1f} {y(v + e):.1f}V{y(max(v - e, 0)):.1f}M{cx - 4:.1f} {y(v + e):.1f}h8'
                f'M{cx - 4:.1f} {y(max(v - e, 0)):.1f}h8" stroke="currentColor" fill="none"/>'
            )
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 15}" text-anchor="middle">dim {d}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _message(text: str, *code: str):
    return ui.div(ui.p(text, *[ui.code(c) for c in code], class_="aemap-note"))


def app_ui(experiments: list[str], root: Path, selected: str | None = None):
    sidebar = ui.sidebar(
        ui.input_select("experiment", "Experiment", choices=experiments, selected=selected),
        ui.input_select("class_name", "Class", choices=[]),
        ui.input_numeric("top_k", "Top dimensions", value=5, min=1, max=MAX_TOP_K),
        ui.input_radio_buttons("rotation", "Rotation", choices=[str(r) for r in ROTATIONS], selected="0", inline=True),
        ui.input_checkbox("flip_h", "Flip horizontal", False),
        ui.input_checkbox("flip_v", "Flip vertical", False),
        ui.input_checkbox("filter_unused", "Filter unused dimensions", True),
        ui.input_checkbox("sort", "Sort by importance", True),
        ui.div(ui.tags.span("Theme "), ui.input_dark_mode(id="theme", mode="light")),
        width=280,
    )
    tabs = ui.navset_card_tab(
        ui.nav_panel(
            "Importance",
            ui.output_ui("importance_note"),
            ui.output_ui("bars"),
            ui.output_ui("heatmaps"),
        ),
        ui.nav_panel(
            "Latent space",
            ui.input_select("latent_view", "View", choices=[]),
            ui.output_ui("latent_note"),
            ui.output_plot("latent", height="460px"),
        ),
        ui.nav_panel("Saliency", ui.output_ui("saliency_maps"), ui.output_plot("corruption", height="340px")),
        ui.nav_panel(
            "Attribution",
            ui.input_select("layer", "Layer", choices=[]),
            ui.output_ui("attribution"),
        ),
        id="tab",
    )
    return ui.page_sidebar(
        sidebar,
        ui.head_content(
            ui.tags.style(CSS),
            ui.tags.script(HOVER_JS),
            ui.tags.link(rel="icon", href="data:,"),  # no favicon request (a 404 in the console)
        ),
        ui.output_ui("summary"),
        tabs,
        title=f"aemap explorer: {root}",
        fillable=False,
    )


def empty_ui(root: Path):
    return ui.page_fluid(
        ui.head_content(ui.tags.link(rel="icon", href="data:,")),
        ui.h2("aemap explorer"),
        ui.p(f"No results in {root}."),
        ui.p(
            "Make some: ",
            ui.code("make reproduce"),
            " (the papers), or ",
            ui.code(".venv/bin/snakemake --cores 2 --configfile tests/smoke.yaml"),
            " (a smoke run of every analysis in minutes), then start the explorer again.",
        ),
    )


def create_app(root: str | Path) -> App:
    explorer = Explorer(root)
    root = explorer.folder.root
    experiments = explorer.folder.experiments()
    if not experiments:
        return App(empty_ui(root), lambda input, output, session: None)

    def server(input, output, session):
        def guarded(read):
            """Run a read; a bad file or path becomes a message naming it."""
            try:
                return read()
            except (CorruptFile, UnsafePath, FileNotFoundError, KeyError) as err:
                # A KeyError's str() quotes its message; the others' messages are as written.
                message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
                raise SafeException(str(message)) from None

        @reactive.calc
        def info():
            return guarded(lambda: explorer.describe(input.experiment()))

        @reactive.effect
        @reactive.event(input.experiment)
        def _update_choices():
            try:
                current = info()
            except SafeException:  # the summary shows which file is at fault
                for control in ("class_name", "latent_view", "layer"):
                    ui.update_select(control, choices=[])
                return
            classes = current.classes
            ui.update_select("class_name", choices=classes, selected=classes[0] if classes else None)
            views = explorer.latent_views(current.name)
            ui.update_select("latent_view", choices=views, selected=views[0] if views else None)
            layers = explorer.attribution_layers(current.name)
            ui.update_select("layer", choices=layers, selected=layers[-1] if layers else None)

        @reactive.calc
        def dark() -> bool:
            return input.theme() == "dark"

        @reactive.calc
        def orientation():
            return int(input.rotation()), bool(input.flip_h()), bool(input.flip_v())

        @render.ui
        def summary():
            current = info()
            facts = [
                ui.tags.b(current.name),
                f" — {current.family}",
                f", dataset {current.dataset} (view {current.view})" if current.view else ", dataset unknown",
                f", images {' x '.join(map(str, current.image_shape))}" if current.image_shape else "",
                f", {len(current.classes)} classes",
            ]
            metrics = current.metrics
            scores = [f"{k} {metrics[k]:.4g}" for k in ("train_loss", "test_loss", "test_accuracy") if k in metrics]
            missing = current.missing()
            notes = [
                ui.tags.li(
                    f"no {what}: list '{analysis}' in experiments.{current.name}.analyses and build ",
                    ui.code(target),
                )
                for analysis, what, target in missing
            ]
            return ui.div(
                ui.p(*facts, (" — " + ", ".join(scores)) if scores else ""),
                ui.tags.ul(*notes, class_="aemap-note") if notes else None,
            )

        # --- importance ---

        @reactive.calc
        def shown_dims():
            current = info()
            if not current.analyses["importance"]:
                return None
            class_name = input.class_name()
            if class_name not in current.classes:
                return None
            top_k = input.top_k()
            top_k = MAX_TOP_K if top_k is None else max(1, min(int(top_k), MAX_TOP_K))
            table = guarded(lambda: explorer.latent_table(current.name))
            return guarded(lambda: class_dims(table, class_name, top_k, input.filter_unused(), input.sort()))

        @render.ui
        def importance_note():
            current = info()
            if current.family == "cnn":
                return _message(f"{current.name} is a classifier: permutation importance explains autoencoders.")
            if not current.analyses["importance"]:
                target = f"results/{current.name}/importance/latent_by_class.csv"
                return _message("No permutation importance: list 'importance' in its analyses and build ", target)
            dims = shown_dims()
            if dims is not None and dims.empty:
                return _message(f"No dimension of class {input.class_name()} has any importance (all filtered).")
            return None

        @render.ui
        def bars():
            dims = shown_dims()
            if dims is None or dims.empty:
                return None
            title = f"class {input.class_name()}: top {len(dims)} latent dimensions (whiskers: sd over permutations)"
            return ui.HTML(
                bar_chart_svg(dims["dim"].tolist(), dims["importance"].to_numpy(), dims["std"].to_numpy(), title)
            )

        @render.ui
        def heatmaps():
            dims = shown_dims()
            if dims is None or dims.empty:
                return None
            current = info()
            signed, shape, origin = guarded(lambda: explorer.signed_pixels(current.name))
            maps = dim_heatmaps(signed, shape, origin, dims["dim"].tolist(), *orientation())
            limit = float(max(np.abs(m).max() for m in maps)) or 1.0
            scale = _scale_for(maps[0].shape)
            figures = []
            for d, heat in zip(dims["dim"], maps, strict=True):
                figures.append(
                    ui.tags.figure(
                        ui.tags.img(
                            src=_png(_signed_rgba(heat, limit), scale),
                            class_="aemap-heat",
                            alt=f"dim {d}",
                            data_dim=str(d),
                            data_rows=str(heat.shape[0]),
                            data_cols=str(heat.shape[1]),
                            data_values=json.dumps(np.round(heat.ravel(), 8).tolist()),
                            data_ranks=json.dumps(pixel_ranks(heat).ravel().tolist()),
                        ),
                        ui.tags.figcaption(f"dim {d}"),
                    )
                )
            return ui.div(
                ui.div(*figures, class_="aemap-heats", id="heatmap-grid"),
                ui.div(
                    "hover a heatmap: a pixel's signed importance and its rank", id="heat-hover", class_="aemap-hover"
                ),
            )

        # --- latent space ---

        @render.ui
        def latent_note():
            current = info()
            if explorer.latent_views(current.name):
                return None
            return _message(
                f"No latent views for {current.name}: list 'latent' (or 'umap') in its analyses and build ",
                f"results/figures/{current.name}/latent_views.png",
            )

        @render.plot(alt="latent view")
        def latent():
            current = info()
            view = input.latent_view()
            # None (latent_note says why), or, right after a change of experiment, the last
            # one's choice until the list is updated: wait rather than flash an error.
            req(view in explorer.latent_views(current.name))
            arrays = guarded(lambda: explorer.latent_view(current.name, view))
            classes = [str(c) for c in arrays["classes"]]
            selected = classes.index(input.class_name()) if input.class_name() in classes else -1
            xy, y = arrays["embedding"], arrays["y"]
            fig = _figure(dark(), 6.5, 5)
            ax = fig.subplots()
            rest = y != selected
            ax.scatter(xy[rest, 0], xy[rest, 1], s=4, c="#9a9a9a", alpha=0.35, linewidths=0, label="other classes")
            ax.scatter(xy[~rest, 0], xy[~rest, 1], s=9, c="#d62728", linewidths=0, label=f"class {input.class_name()}")
            ax.set_xlabel(str(arrays["x_label"]))
            ax.set_ylabel(str(arrays["y_label"]))
            ax.set_title(f"{arrays['title']} of {len(y)} test codes")
            ax.legend(loc="best", fontsize=8)
            _style(ax, fig)
            return fig

        # --- saliency and corruption ---

        @render.ui
        def saliency_maps():
            current = info()
            if not current.analyses["saliency"]:
                if current.family == "cnn":
                    return _message(f"{current.name} is a classifier: the saliency maps explain autoencoders.")
                return _message(
                    "No saliency maps: list 'saliency' in its analyses and build ",
                    f"results/{current.name}/saliency/maps.npz",
                )
            arrays = guarded(lambda: explorer.saliency(current.name))
            classes = [str(c) for c in arrays["classes"]]
            panels = [("all test images", arrays["mean_map"])]
            if input.class_name() in classes:
                members = arrays["y"] == classes.index(input.class_name())
                if members.any():
                    panels.insert(0, (f"class {input.class_name()}", arrays["maps"][members].mean(axis=0)))
            figures = []
            for title, m in panels:
                shown = orient(natural(m, current.image_origin), *orientation())
                rgba = _grey_rgba(shown, "viridis", 0.0, float(shown.max()))
                figures.append(
                    ui.tags.figure(
                        ui.tags.img(src=_png(rgba, _scale_for(shown.shape)), class_="aemap-saliency", alt=title),
                        ui.tags.figcaption(f"mean saliency: {title}"),
                    )
                )
            return ui.div(*figures, class_="aemap-heats")

        @render.plot(alt="corruption curves")
        def corruption():
            current = info()
            if not current.analyses["sanity"]:
                return None
            table = guarded(lambda: explorer.corruption(current.name))
            fig = _figure(dark(), 7, 3.3)
            ax = fig.subplots()
            for i, (source, rows) in enumerate(table.groupby("source", sort=False)):
                for which, style in (("most", "-"), ("least", "--")):
                    part = rows[rows["which"] == which].sort_values("fraction")
                    ax.errorbar(
                        100 * part["fraction"],
                        100 * part["accuracy"],
                        yerr=100 * part["accuracy_std"].fillna(0),
                        ls=style,
                        color=f"C{i}",
                        marker="o",
                        ms=3,
                        label=f"{source} ({which})",
                    )
            ax.set_xlabel("% of pixels corrupted")
            ax.set_ylabel("accuracy (%)")
            ax.set_title("sanity check 3: most (solid) / least (dashed) important first")
            ax.legend(fontsize=6, ncol=2)
            _style(ax, fig)
            return fig

        # --- attribution ---

        @render.ui
        def attribution():
            current = info()
            layer = input.layer()
            if not current.analyses["attribution"] or not layer:
                return _message(
                    "No attribution visualisations: list 'attribution' in its analyses and build ",
                    f"results/{current.name}/attribution/metrics.csv",
                )
            # Right after a change of experiment the layer list still holds the last one's
            # choice until it is updated: wait for that, rather than flash an error.
            req(layer in explorer.attribution_layers(current.name))
            inputs = guarded(lambda: explorer.attribution_inputs(current.name, layer))
            perturbations = guarded(lambda: explorer.attribution_perturbations(current.name, layer))
            visualisations = {
                p: guarded(lambda p=p: explorer.attribution(current.name, layer, p)) for p in perturbations
            }
            classes = [str(c) for c in inputs.get("classes", [])]
            autoencoder = current.family == "dense_ae"
            # One row per explained (image, target): a classifier's images of the chosen class,
            # an autoencoder's top latent dims; columns: input, attribution map, each perturbation.
            explained = list(zip(inputs["rows"].tolist(), inputs["targets"].tolist(), strict=True))
            if not autoencoder and input.class_name() in classes:
                wanted = classes.index(input.class_name())
                explained = [(i, (row, t)) for i, (row, t) in enumerate(explained) if t == wanted]
            else:
                explained = list(enumerate(explained))
            if not explained:
                return _message(f"No explained test image of class {input.class_name()} in layer {layer}.")
            turn = orientation()

            # In the data's own orientation and colours: spectrograms (origin 'lower')
            # with frequency upward, as in the importance and saliency tabs.
            image_colours = image_cmap(current.image_origin, current.image_display)

            def cell(image, cmap=None, low=0.0, high=1.0, caption=""):
                shown = orient(natural(image, current.image_origin), *turn)
                cmap = cmap or image_colours
                rgba = _grey_rgba(shown, cmap, low, high)
                return ui.tags.td(
                    ui.tags.img(src=_png(rgba, max(1, _scale_for(shown.shape) // 2))),
                    ui.div(caption, class_="aemap-hover"),
                )

            header = ui.tags.tr(*[ui.tags.th(h) for h in ["", "input", "attribution", *perturbations]])
            body = []
            for i, (row, target) in explained:
                label = f"dim {target + 1}" if autoencoder else f"class {classes[target]}"
                cells = [ui.tags.th(f"test image {row}, {label}")]
                cells.append(cell(inputs["images"][i]))
                heat = inputs["heatmap"][i]
                cells.append(cell(heat, "inferno", 0.0, float(heat.max()) or 1.0))
                for p in perturbations:
                    v = visualisations[p]
                    # `image` indexes the explained images of attributions.npz (docs/attribution.md).
                    hit = np.flatnonzero((v["image"] == i) & (v["init"] == 0))
                    if len(hit):
                        k = hit[0]
                        cells.append(cell(v["mask"][k] * v["x"][k], caption=f"r {v['correlation'][k]:.2f}"))
                    else:
                        cells.append(ui.tags.td("—"))
                body.append(ui.tags.tr(*cells))
            return ui.div(
                ui.p(
                    f"layer {layer}: the visualisation M* X* of the first initialisation under each perturbation; "
                    "r: its correlation with the attributions",
                    class_="aemap-note",
                ),
                ui.tags.table(ui.tags.thead(header), ui.tags.tbody(*body), class_="aemap-attribution"),
            )

    # Open on the first experiment with permutation importance (aim's view), if any.
    with_importance = [e for e in experiments if explorer.folder.has(e, "importance", "latent_by_class.csv")]
    return App(app_ui(experiments, root, (with_importance or experiments)[0]), server)
