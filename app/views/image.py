"""The frame on screen: rasterised server-side, scaled, with detections, matches and RA/Dec hover."""

from __future__ import annotations

import asyncio
from functools import partial

import holoviews as hv
import numpy as np
import panel as pn
import param
import xarray as xr
from bokeh.models import ColumnDataSource, CustomJSHover
from holoviews.operation.datashader import rasterize

from app.models.frame_data import FrameData
from app.models.pixels import FramePixelsView, load_frame_pixels, sky_hover_parameters
from app.models.scaling import LIMITS, STRETCHES
from app.models.session import Session
from app.views.linked import SELECT_TOOLS, linked_points, when_frame
from rpf.errors import RPFError

__all__ = ["ImageView", "SKY_HOVER_JS"]

COLORMAPS = ("gray", "viridis", "magma", "inferno", "cividis", "fire")

SKY_HOVER_JS = """
const p = wcs.data.p;
if (!p || p.length < 8) { return "no WCS"; }
const d2r = Math.PI / 180;
const u = special_vars.x + 1 - p[0], v = special_vars.y + 1 - p[1];
const xi = (p[4] * u + p[5] * v) * d2r, eta = (p[6] * u + p[7] * v) * d2r;
const d0 = p[3] * d2r, den = Math.cos(d0) - eta * Math.sin(d0);
const ra = ((p[2] + Math.atan2(xi, den) / d2r) % 360 + 360) % 360;
const dec = Math.atan2(eta * Math.cos(d0) + Math.sin(d0), Math.hypot(xi, den)) / d2r;
const sexa = (x, hours) => {
  const sign = x < 0 ? "-" : (hours ? "" : "+");
  let a = Math.abs(hours ? x / 15 : x);
  const d = Math.floor(a); a = (a - d) * 60; const m = Math.floor(a); const s = (a - m) * 60;
  const pad = (n, w) => String(n).padStart(w, "0");
  return sign + pad(d, 2) + ":" + pad(m, 2) + ":" + s.toFixed(hours ? 2 : 1).padStart(hours ? 5 : 4, "0");
};
return sexa(ra, true) + " " + sexa(dec, false) + " (" + ra.toFixed(5) + ", " + dec.toFixed(5) + ")";
"""
"""Pixel -> RA/Dec of the linear TAN part of the frame's WCS, in the browser (no per-pixel arrays sent)."""


def _detections(frame: FrameData):
    phot = frame.phot
    return phot.assign(row=np.arange(len(phot)))


def _matches(frame: FrameData):
    calibrators = frame.calibrators
    phot = frame.phot.iloc[calibrators["row"].to_numpy(int)]
    return phot.assign(row=calibrators["row"].to_numpy(int), cat_mag=calibrators["cat_mag"].to_numpy())


class ImageView(pn.viewable.Viewer):
    """The selected frame's image, rasterised to the screen size on the server."""

    session = param.ClassSelector(class_=Session)
    stretch = param.Selector(default="linear", objects=list(STRETCHES), doc="Grey-level curve.")
    limits = param.Selector(default="zscale", objects=list(LIMITS), doc="Where black and white are set.")
    percent = param.Number(default=99.5, bounds=(50.0, 100.0), step=0.1, doc="Pixels kept between the limits (%).")
    cmap = param.Selector(default="gray", objects=list(COLORMAPS), doc="Colour map.")
    pixels = param.ClassSelector(class_=FramePixelsView, default=None, allow_None=True)
    shape = param.Tuple(default=(2, 2), length=2, doc="Shape of the image on screen (a new plot when it changes).")
    status = param.String(default="")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._wcs = ColumnDataSource(data={"p": []})
        self._loading: asyncio.Task | None = None
        self.session.param.watch(self._frame_changed, "shown")
        if self.session.shown is not None:
            self._show(self.session.shown, self._read(self.session.shown))

    def _frame_changed(self, event: param.parameterized.Event) -> None:
        if event.new is None:
            self._wcs.data = {"p": []}
            self.pixels = None
            return
        self.status = f"loading {event.new.name} ..."
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script or a test): read the pixels here
            self._show(event.new, self._read(event.new))
            return
        self._loading = asyncio.ensure_future(self._load(event.new, pn.state.curdoc))

    @staticmethod
    def _read(frame: FrameData) -> FramePixelsView | str:
        try:
            return load_frame_pixels(frame.result)
        except RPFError as exc:
            return f"no image for {frame.name}: {exc}"

    async def _load(self, frame: FrameData, doc) -> None:
        pixels = await asyncio.to_thread(self._read, frame)
        if doc is None or doc.session_context is None:  # not in a served page: no document lock to take
            self._show(frame, pixels)
        else:  # models change only under the document's lock: on its next tick
            doc.add_next_tick_callback(partial(self._show, frame, pixels))

    def _show(self, frame: FrameData, pixels: FramePixelsView | str) -> None:
        if self.session.shown is not frame:
            return
        if isinstance(pixels, str):
            self.param.update(pixels=None, status=pixels)
            return
        self._wcs.data = {"p": sky_hover_parameters(pixels.wcs)}
        self.param.update(pixels=pixels, shape=pixels.image.shape, status="")

    def _image(self, pixels: FramePixelsView | None) -> hv.Image:
        if pixels is None:
            blank = np.zeros((2, 2), np.float32)
            return hv.Image(blank, bounds=(-0.5, -0.5, 1.5, 1.5), kdims=["x", "y"], vdims=["adu"])
        ny, nx = pixels.image.shape
        return hv.Image(
            np.flipud(pixels.image), bounds=(-0.5, -0.5, nx - 0.5, ny - 0.5), kdims=["x", "y"], vdims=["adu"]
        )

    def _scaled(self, element: hv.Image, stretch: str, limits: str, percent: float) -> hv.Image:
        data = element.data
        adu = data["adu"].values
        pixels = self.pixels
        level = (
            np.zeros(adu.shape, np.uint8)
            if pixels is None
            else pixels.scale.to_bytes(adu, stretch=stretch, limits=pixels.scale.limits(limits, percent=percent))
        )
        scaled = xr.Dataset({"level": (data["adu"].dims, level), "adu": data["adu"]}, coords=data.coords)
        return element.clone(scaled, vdims=["level", "adu"])

    def _title(self) -> str:
        frame = self.session.shown
        return "No frame yet: load frames and press Run" if frame is None else frame.name

    def plot(self) -> hv.DynamicMap:
        """Return the image with its overlays (a HoloViews object; Panel renders it)."""
        base = hv.DynamicMap(self._image, streams=[hv.streams.Params(parameterized=self, parameters=["pixels"])])
        scaled = rasterize(base).apply(
            self._scaled, streams=[hv.streams.Params(parameterized=self, parameters=["stretch", "limits", "percent"])]
        )
        hover = CustomJSHover(args={"wcs": self._wcs}, code=SKY_HOVER_JS)
        image = scaled.apply.opts(cmap=self.param.cmap).opts(
            clim=(0, 255),
            colorbar=False,
            framewise=True,  # the axes follow each new frame (not the placeholder's)
            frame_width=520,
            data_aspect=1,
            tools=["hover"],
            # the sky position is computed in the browser from the hovered pixel, attached to the display
            # level (named @image in the plot) so that the formatter does not take over "$x" too
            hover_tooltips=[("x, y", "$x{0.0}, $y{0.0}"), ("ADU", "@adu{0.0}"), ("RA, Dec", "@level{custom}")],
            hover_formatters={"@level": hover, "@image": hover},  # HoloViews renames @level to @image
            xlabel="x (px)",
            ylabel="y (px)",
        )
        detections = linked_points(
            self.session,
            _detections,
            kdims=["x", "y"],
            vdims=["id", "mag", "mag_err", "snr"],
            points_opts=dict(
                marker="circle", size=11, fill_alpha=0, line_color="#39ff14", line_width=1.2,
                tools=SELECT_TOOLS, nonselection_alpha=0.35,
            ),
        )  # fmt: skip
        matches = linked_points(
            self.session,
            _matches,
            kdims=["x", "y"],
            vdims=["id", "cat_mag"],
            points_opts=dict(
                marker="square", size=15, fill_alpha=0, line_color="#ffb000", line_width=1.2,
                tools=["hover"], nonselection_alpha=0.35,
            ),
            selects=False,
        )  # fmt: skip
        return (image * detections * matches).opts(title="", active_tools=["wheel_zoom", "pan"])

    def _plot_pane(self, shape: tuple[int, int]) -> pn.pane.HoloViews:
        """Return a plot for images of this shape: frames of the same size keep the zoom."""
        return pn.pane.HoloViews(self.plot(), linked_axes=False, name="image-plot")

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Row(
            pn.widgets.Select.from_param(self.param.stretch, width=150),
            pn.widgets.Select.from_param(self.param.limits, width=110),
            pn.widgets.FloatInput.from_param(self.param.percent, width=90, label="percent"),
            pn.widgets.Select.from_param(self.param.cmap, width=100, label="colours"),
        )
        legend = pn.pane.HTML(
            "<span style='color:#2a9d2a'>&#9711; detections</span> &nbsp; "
            "<span style='color:#d99100'>&#9633; reference matches</span> &nbsp; "
            "<span style='color:#ff2d55'>&#9711; selected</span> &nbsp; box/lasso tools select stars",
            styles={"font-size": "12px"},
        )
        status = pn.pane.Markdown(self.param.status, styles={"color": "#666"})
        title = pn.pane.Markdown(pn.bind(lambda _: f"#### {self._title()}", self.session.param.shown))
        plot = pn.panel(pn.bind(self._plot_pane, self.param.shape))
        empty = "The image of a frame appears here when it finishes."
        return pn.Column(title, controls, when_frame(self.session, empty, plot, legend), status, width=620,
                         css_classes=["rpf-image-view"])
