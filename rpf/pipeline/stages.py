"""The per-frame steps, in order, each ``(state, ctx) -> state``, and the configuration each one reads.

Every step has its own name, time (``timings`` in the metadata), event
(:class:`~rpf.pipeline.events.StageDone`) and log line.  The steps are
module-level functions so that they pickle to Dask workers;
:func:`rpf.pipeline.frame.process_frame` runs them one after another, and
:mod:`rpf.pipeline.graph` runs groups of them (:data:`TASK_GROUPS`) as
``dask.delayed`` tasks.  Writing the products is the last step,
``products`` (:func:`rpf.pipeline.frame.finish_frame`).
"""

from __future__ import annotations

from dataclasses import fields

from rpf.config import PipelineConfig
from rpf.pipeline.detect_steps import background_refine, detect, fwhm, redetect
from rpf.pipeline.image_steps import background, calibrate_frame, cosmic_rays, load
from rpf.pipeline.labels import crossmatch_stage, transients_stage
from rpf.pipeline.magnitudes import airmass, calibrators, limiting_mag, magnitudes, psf_stage, zero_point
from rpf.pipeline.reference import reference_step
from rpf.pipeline.sky_steps import astrometry, photometry
from rpf.pipeline.transient_steps import subtraction_step, targets_step

__all__ = ["STAGES", "STAGE_NAMES", "STAGE_SECTIONS", "TASK_GROUPS", "stage_parameters"]

STAGES = (
    ("load", load),
    ("calibrate", calibrate_frame),
    ("background", background),
    ("cosmic_rays", cosmic_rays),
    ("detect", detect),
    ("fwhm", fwhm),
    ("background_refine", background_refine),
    ("redetect", redetect),
    ("photometry", photometry),
    ("astrometry", astrometry),
    ("reference", reference_step),
    ("airmass", airmass),
    ("calibrators", calibrators),
    ("zero_point", zero_point),
    ("magnitudes", magnitudes),
    ("limiting_mag", limiting_mag),
    ("psf", psf_stage),
    ("crossmatch", crossmatch_stage),
    ("transients", transients_stage),
    ("subtraction", subtraction_step),
    ("targets", targets_step),
)
"""The ordered per-frame steps before the products."""

STAGE_NAMES: tuple[str, ...] = (*(name for name, _ in STAGES), "products")
"""Every step of a frame, in order, ``products`` last."""

STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "load": ("header", "cosmics", "detection"),
    "calibrate": ("calibration",),
    "background": ("background", "detection"),
    "cosmic_rays": ("cosmics",),
    "detect": ("detection",),
    "fwhm": ("detection",),
    "background_refine": ("background",),
    "redetect": ("detection",),
    "photometry": ("aperture",),
    "astrometry": ("astrometry", "catalogs"),
    "reference": ("catalogs",),
    "airmass": ("header",),
    "calibrators": ("zeropoint", "catalogs"),
    "zero_point": ("zeropoint",),
    "magnitudes": (),
    "limiting_mag": (),
    "psf": ("psf",),
    "crossmatch": ("catalogs", "header"),
    "transients": (),
    "subtraction": ("transients",),
    "targets": ("transients", "aperture", "catalogs", "header"),
    "products": tuple(f.name for f in fields(PipelineConfig)),
}
"""The configuration sections each step reads, exactly (written to the frame's log).

A step's result depends only on the previous step's state and these
sections (``products`` reads every section: the metadata records the whole
configuration); ``tests/test_pipeline_steps.py`` records the sections each
step actually reads.
"""

TASK_GROUPS: tuple[tuple[str, ...], ...] = (
    ("load", "calibrate", "background", "cosmic_rays"),
    ("detect", "fwhm", "background_refine", "redetect", "photometry"),
    ("astrometry", "reference"),
    ("airmass", "calibrators", "zero_point", "magnitudes", "limiting_mag", "psf", "crossmatch", "transients",
     "subtraction", "targets"),
)
"""How :mod:`rpf.pipeline.graph` groups the steps into Dask tasks (each step still reports its own event).

Fewer, larger tasks cost the scheduler less; the groups end where a
frame's state is worth keeping (after the pixel work, after photometry,
after astrometry) and the shared reference catalogue is attached before
``astrometry``.  See ``docs/dask.md`` for the measurement.
"""


def stage_parameters(name: str, config: PipelineConfig) -> dict[str, dict]:
    """Return the configuration sections a step reads, without secrets.

    Parameters
    ----------
    name : str
        Step name (a key of :data:`STAGE_SECTIONS`).
    config : PipelineConfig
        The run's configuration.

    Returns
    -------
    dict
        ``{section: {parameter: value}}``; API keys are blanked.
    """
    values = config.to_dict()
    return {section: values[section] for section in STAGE_SECTIONS.get(name, ())}
