"""Sky context: Aladin Lite (DSS2 colour, detections and matches) when online, links to the archives always."""

from __future__ import annotations

import asyncio
import html

import numpy as np
import panel as pn
import param
from panel.custom import JSComponent

from app.models.frame_data import FrameData
from app.models.session import Session
from app.models.sky import ALADIN_HOST, aladin_reachable, sky_links

__all__ = ["AladinLite", "SkyContext"]

OFFLINE_NOTE = (
    "**Sky view offline.** Aladin Lite and its DSS2 images come from {host}, which cannot be reached from here, "
    "so the embedded sky view is not shown. The links below open the field in SIMBAD, ESA Sky, VizieR and "
    "Aladin once you are online."
)


class AladinLite(JSComponent):
    """Aladin Lite v3 loaded from the CDS, with the frame's detections and reference matches overlaid."""

    ra = param.Number(default=0.0)
    dec = param.Number(default=0.0)
    fov = param.Number(default=0.3)
    detections = param.List(default=[])
    matches = param.List(default=[])

    _esm = f"""
    const URL = "https://{ALADIN_HOST}/AladinLite/api/v3/latest/aladin.js";
    function loadAladin() {{
      if (window.__rpfAladin) {{ return window.__rpfAladin; }}
      window.__rpfAladin = new Promise((resolve, reject) => {{
        const script = document.createElement("script");
        script.src = URL; script.charset = "utf-8";
        script.onload = () => window.A.init.then(resolve); script.onerror = reject;
        document.head.appendChild(script);
      }});
      return window.__rpfAladin;
    }}
    export function render({{ model, el }}) {{
      const box = document.createElement("div");
      box.style.width = "100%"; box.style.height = "420px";
      el.appendChild(box);
      loadAladin().then(() => {{
        const aladin = window.A.aladin(box, {{survey: "P/DSS2/color", fov: model.fov,
                                               target: model.ra + " " + model.dec}});
        const draw = (name, color, rows) => {{
          const cat = window.A.catalog({{name: name, sourceSize: 12, color: color}});
          aladin.addCatalog(cat);
          cat.addSources(rows.map((r) => window.A.source(r[0], r[1])));
        }};
        draw("detections", "#39ff14", model.detections);
        draw("reference matches", "#ffb000", model.matches);
      }}).catch(() => {{
        box.style.height = "auto";
        box.textContent = "Aladin Lite could not be loaded (offline?): use the links below.";
      }});
    }}
    """


def _radec(frame: FrameData, rows: np.ndarray | None = None) -> list[list[float]]:
    phot = frame.phot if rows is None else frame.phot.iloc[rows]
    if "ra" not in phot:
        return []
    pairs = phot[["ra", "dec"]].to_numpy(float)
    return pairs[np.isfinite(pairs).all(axis=1)][:5000].round(6).tolist()


def _field_of_view(radec: list[list[float]]) -> float:
    """Degrees across the detections, with a margin (0.3 when there are none)."""
    if len(radec) < 2:
        return 0.3
    ra, dec = np.asarray(radec).T
    return float(max(0.05, 1.3 * max(np.ptp(dec), np.ptp(ra) * np.cos(np.radians(np.median(dec))))))


def _link_row(label: str, ra: float, dec: float, radius: float) -> str:
    links = " · ".join(
        f"<a href='{html.escape(url)}' target='_blank' rel='noopener'>{name}</a>"
        for name, url in sky_links(ra, dec, radius_arcsec=radius).items()
    )
    return f"<tr><td>{html.escape(label)}</td><td>{ra:.5f}</td><td>{dec:+.5f}</td><td>{links}</td></tr>"


class SkyContext(pn.viewable.Viewer):
    """Aladin Lite or a clear offline note, and per-source archive links."""

    session = param.ClassSelector(class_=Session)
    online = param.Boolean(default=None, allow_None=True, doc="Aladin Lite reachable (None: not checked yet).")
    force = param.Boolean(default=False, doc="Load Aladin Lite even though the server found no connection.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._check = asyncio.ensure_future(self._probe())

    async def _probe(self) -> None:
        self.online = await asyncio.to_thread(aladin_reachable)

    def _sky(self, shown: FrameData | None, online: bool | None, force: bool) -> pn.viewable.Viewable:
        if online is None and not force:
            return pn.pane.Markdown("Checking whether the sky view can be reached ...")
        if not (online or force):
            button = pn.widgets.Button(label="Load Aladin Lite anyway")
            button.on_click(lambda _: setattr(self, "force", True))
            note = pn.pane.Alert(OFFLINE_NOTE.format(host=ALADIN_HOST), alert_type="info", name="sky-offline-note")
            return pn.Column(note, button)
        if shown is None or shown.wcs is None:
            return pn.pane.Markdown("The sky view needs a frame with an astrometric solution.")
        detections = _radec(shown)
        matches = _radec(shown, shown.calibrators["row"].to_numpy(int))
        centre = (shown.number("center_ra"), shown.number("center_dec"))
        return AladinLite(
            ra=centre[0], dec=centre[1], fov=_field_of_view(detections), detections=detections, matches=matches,
            height=430,
        )

    def _links(self, shown: FrameData | None, stars: list[int]) -> str:
        if shown is None:
            return "<p>Links to SIMBAD, ESA Sky, VizieR and Aladin appear here for the frame and its stars.</p>"
        radius = max(2.0, shown.number("fwhm_arcsec") or 2.0)
        rows = [_link_row("frame centre", shown.number("center_ra"), shown.number("center_dec"), 60.0)]
        phot = shown.phot
        for row in stars[:20]:
            ra, dec = float(phot["ra"].iloc[row]), float(phot["dec"].iloc[row])
            if np.isfinite(ra) and np.isfinite(dec):
                rows.append(_link_row(f"star {int(phot['id'].iloc[row])}", ra, dec, radius))
        head = "<tr><th>source</th><th>RA (°)</th><th>Dec (°)</th><th>open in</th></tr>"
        note = "" if stars else "<p><small>Select stars (table row, box or lasso) to get their links.</small></p>"
        return f"<table class='rpf-links'>{head}{''.join(rows)}</table>{note}"

    def __panel__(self) -> pn.viewable.Viewable:
        session = self.session
        return pn.Column(
            pn.panel(pn.bind(self._sky, session.param.shown, self.param.online, self.param.force)),
            pn.pane.HTML(pn.bind(self._links, session.param.shown, session.selection.param.stars), name="sky-links"),
            sizing_mode="stretch_width",
            css_classes=["rpf-sky-view"],
        )
