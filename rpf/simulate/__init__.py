"""Seeded simulation of raw CCD frames with known truth (``rpf.simulate``).

See ``docs/simulate.md``.  Everything is deterministic for a given ``seed``
(and ``InstrumentModel.seed`` for the camera's fixed patterns).
"""

from rpf.simulate.calibration import simulate_calibration_frames
from rpf.simulate.catalog import BAND_COLUMNS, band_offsets, random_star_catalog
from rpf.simulate.crowded import CrowdedField, crowded_field, write_crowded_field
from rpf.simulate.files import write_demo_dataset, write_fits
from rpf.simulate.frame import SimulatedFrame, SimulationTruth, field_catalog, simulate_frame
from rpf.simulate.instrument import InstrumentMaps, InstrumentModel, instrument_maps
from rpf.simulate.night import FrameDefect, Transient, VariableStar, simulate_night
from rpf.simulate.site import DEFAULT_OBSERVATORY, DEFAULT_SITE, airmass_at

__all__ = [
    "BAND_COLUMNS",
    "CrowdedField",
    "DEFAULT_OBSERVATORY",
    "DEFAULT_SITE",
    "FrameDefect",
    "InstrumentMaps",
    "InstrumentModel",
    "SimulatedFrame",
    "SimulationTruth",
    "Transient",
    "VariableStar",
    "airmass_at",
    "band_offsets",
    "crowded_field",
    "field_catalog",
    "instrument_maps",
    "random_star_catalog",
    "simulate_calibration_frames",
    "simulate_frame",
    "simulate_night",
    "write_crowded_field",
    "write_demo_dataset",
    "write_fits",
]
