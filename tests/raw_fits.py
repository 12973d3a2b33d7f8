"""FITS files written card by card, for tests that need headers astropy would refuse to write."""

from __future__ import annotations

import numpy as np

_BLOCK = 2880
_BITPIX = {np.dtype(">u1"): 8, np.dtype(">i2"): 16, np.dtype(">i4"): 32, np.dtype(">i8"): 64,
           np.dtype(">f4"): -32, np.dtype(">f8"): -64}


def _padded(data: bytes, fill: bytes) -> bytes:
    return data.ljust(-(-len(data) // _BLOCK) * _BLOCK, fill)


def raw_fits(cards: list[str], data: np.ndarray) -> bytes:
    """Return a single-HDU FITS file: the structural cards for ``data``, then ``cards`` as given (80-char images).

    ``data`` is written big-endian in its own type (``uint8``, ``int16/32/64``, ``float32/64``).
    """
    stored = np.ascontiguousarray(data, dtype=np.dtype(data.dtype).newbyteorder(">"))
    axes = [f"NAXIS{i + 1:<3}= {n:>20}" for i, n in enumerate(reversed(stored.shape))]
    head = [f"SIMPLE  = {'T':>20}", f"BITPIX  = {_BITPIX[stored.dtype]:>20}", f"NAXIS   = {stored.ndim:>20}",
            *axes, *cards, "END"]
    return _padded("".join(c[:80].ljust(80) for c in head).encode("ascii"), b" ") + _padded(stored.tobytes(), b"\0")
