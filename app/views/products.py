"""Downloads (frame ZIP, run ZIP, CSVs), the PSF model and the logs of the frame on screen."""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import panel as pn
import param

from app.models.frame_data import FrameData
from app.models.session import Session
from rpf.products import write_zip

__all__ = ["Downloads", "LogView", "PsfView", "run_zip"]


def run_zip(out_dir: str | Path) -> Path:
    """Bundle every product of a run folder into ``<folder>/run_results.zip`` (rewritten each time)."""
    folder = Path(out_dir)
    target = folder / "run_results.zip"
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != target.name and p.suffix != ".tmp")
    return write_zip(files, target)


def _download(label: str, path: str | None, *, kind: str = "default") -> pn.widgets.FileDownload | None:
    if not path or not Path(path).is_file():
        return None
    return pn.widgets.FileDownload(
        file=path, filename=Path(path).name, label=f"{label} ({Path(path).name})", button_type=kind, embed=False,
        sizing_mode="stretch_width",
    )  # fmt: skip


class Downloads(pn.viewable.Viewer):
    """Buttons for the products of the frame on screen and of the whole run."""

    session = param.ClassSelector(class_=Session)

    def _frame(self, shown: FrameData | None) -> pn.viewable.Viewable:
        if shown is None:
            return pn.pane.Markdown("The products of a frame can be downloaded once it has finished.")
        products = shown.products
        buttons = [
            _download("Frame ZIP", products.get("zip"), kind="primary"),
            _download("Photometry CSV", products.get("phot")),
            _download("Metadata JSON", products.get("metadata")),
        ]
        return pn.Column(*[b for b in buttons if b is not None], sizing_mode="stretch_width")

    def _run(self, state: str) -> pn.viewable.Viewable:
        run = self.session.run
        if state not in ("finished", "cancelled") or not run.out_dir or not Path(run.out_dir).is_dir():
            return pn.pane.Markdown("The whole run's ZIP and CSVs are here once the run has finished.")
        summary = run.summary
        zipped = pn.widgets.FileDownload(
            callback=lambda: str(run_zip(run.out_dir)), filename="run_results.zip", label="Run ZIP (every product)",
            button_type="primary", sizing_mode="stretch_width",
        )  # fmt: skip
        buttons = [
            zipped,
            _download("Run summary CSV", summary.summary_csv if summary else None),
            _download("Light curves CSV", summary.lightcurves_csv if summary else None),
        ]
        return pn.Column(*[b for b in buttons if b is not None], sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "#### This frame",
            pn.panel(pn.bind(self._frame, self.session.param.shown)),
            "#### The run",
            pn.panel(pn.bind(self._run, self.session.run.param.state)),
            sizing_mode="stretch_width",
        )


class PsfView(pn.viewable.Viewer):
    """The PSF model of the frame on screen, when PSF photometry ran."""

    session = param.ClassSelector(class_=Session)

    def _psf(self, shown: FrameData | None) -> pn.viewable.Viewable:
        image = None if shown is None else shown.psf_image()
        if image is None:
            return pn.pane.Markdown(
                "No PSF model for this frame: PSF photometry is off (turn on **psf → enabled** in Settings)."
            )
        ny, nx = image.shape
        plot = hv.Image(image[::-1], bounds=(0, 0, nx, ny)).opts(
            cmap="viridis", colorbar=True, frame_width=300, data_aspect=1, title=f"PSF model of {shown.name}",
            tools=["hover"], xaxis=None, yaxis=None,
        )  # fmt: skip
        return pn.pane.HoloViews(plot)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(pn.bind(self._psf, self.session.param.shown))


class LogView(pn.viewable.Viewer):
    """The run's messages and the processing log of the frame on screen."""

    session = param.ClassSelector(class_=Session)

    def _frame_log(self, shown: FrameData | None) -> str:
        return "" if shown is None else shown.text("log")

    def __panel__(self) -> pn.viewable.Viewable:
        box = {"max-height": "330px", "overflow": "auto", "font-size": "11px", "background": "#f7f7f7", "padding": "6px"}
        return pn.Column(
            "#### Run",
            pn.pane.Str(pn.bind(lambda lines: "\n".join(lines[-200:]), self.session.run.param.log), styles=box),
            "#### Frame log",
            pn.pane.Str(pn.bind(self._frame_log, self.session.param.shown), styles=box),
            sizing_mode="stretch_width",
        )
