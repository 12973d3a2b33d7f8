"""A reader of the AAVSO Extended File Format (v1.2), written from the published specification.

It knows nothing of RPF's writer: it checks a report against the rules of
the specification (https://www.aavso.org/aavso-extended-file-format) and
raises ``SpecError`` naming the line and the rule broken.

- Parameter lines start with ``#`` and read ``#KEY=value``; the six required
  ones (TYPE, OBSCODE, SOFTWARE, DELIM, DATE, OBSTYPE) come before the
  data; other ``#`` lines are comments; a blank line must be commented out.
- TYPE is ``Extended``; DATE is ``JD``, ``HJD`` or ``EXCEL``; DELIM is one
  ASCII character (codes 32-126) other than ``#`` and space, used in no field.
- Each observation has 15 fields; an optional field without data holds
  ``na``.  Limits: STARID 30, DATE 16, MAGNITUDE 8 (a dot required, ``<``
  allowed), MAGERR 6, CNAME 20, CMAG 8, KNAME 20, KMAG 8, AMASS 7, GROUP 5,
  CHART 20, NOTES 100 characters.
- FILTER is one of the listed codes; TRANS is YES or NO; MTYPE is STD or DIF
  (DIF needs a CNAME); CMAG is ``na`` when CNAME is, KMAG when KNAME is.
- The format is not case sensitive.
"""

from __future__ import annotations

REQUIRED = ("TYPE", "OBSCODE", "SOFTWARE", "DELIM", "DATE", "OBSTYPE")
FIELDS = ("STARID", "DATE", "MAGNITUDE", "MAGERR", "FILTER", "TRANS", "MTYPE", "CNAME", "CMAG", "KNAME", "KMAG",
          "AMASS", "GROUP", "CHART", "NOTES")
LIMITS = {"STARID": 30, "DATE": 16, "MAGNITUDE": 8, "MAGERR": 6, "CNAME": 20, "CMAG": 8, "KNAME": 20, "KMAG": 8,
          "AMASS": 7, "GROUP": 5, "CHART": 20, "NOTES": 100}
FILTERS = {"U", "B", "V", "R", "I", "J", "H", "K", "TG", "TB", "TR", "CV", "CR", "CBB", "SZ", "SU", "SG", "SR", "SI",
           "STU", "STV", "STB", "STY", "STHBW", "STHBN", "MA", "MB", "MI", "ZS", "Y", "HA", "HAC"}
OBSTYPES = {"CCD", "DSLR", "PEP", "CMOS"}
DATE_TYPES = {"JD", "HJD", "EXCEL"}


class SpecError(ValueError):
    """The report breaks a rule of the specification."""


def _float(text: str, what: str, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"line {line}: {what} {text!r} is not a number") from None


def _optional_number(text: str, what: str, line: int) -> float | None:
    return None if text.lower() == "na" else _float(text, what, line)


def parse(text: str) -> tuple[dict[str, str], list[dict[str, object]]]:
    """Return the parameters and the observations of a report, or raise SpecError."""
    params: dict[str, str] = {}
    rows: list[dict[str, object]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if line == "" and number == len(text.split("\n")):
            continue  # the final newline
        if line.strip() == "":
            raise SpecError(f"line {number}: blank line not commented out")
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip().upper() in REQUIRED and not rows:
                params[key.strip().upper()] = value.strip()
            continue
        missing = [k for k in REQUIRED if k not in params]
        if missing:
            raise SpecError(f"line {number}: data before the parameters {missing}")
        rows.append(_observation(line, params, number))
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise SpecError(f"missing parameters {missing}")
    if not rows:
        raise SpecError("no observation")
    return params, rows


def _check_params(params: dict[str, str]) -> str:
    if params["TYPE"].upper() != "EXTENDED":
        raise SpecError(f"TYPE is {params['TYPE']!r}, not Extended")
    if params["DATE"].upper() not in DATE_TYPES:
        raise SpecError(f"DATE type {params['DATE']!r} not one of {sorted(DATE_TYPES)}")
    if params["OBSTYPE"].upper() not in OBSTYPES:
        raise SpecError(f"OBSTYPE {params['OBSTYPE']!r} not one of {sorted(OBSTYPES)}")
    if not params["OBSCODE"]:
        raise SpecError("empty OBSCODE")
    if len(params["SOFTWARE"]) > 255:
        raise SpecError("SOFTWARE longer than 255 characters")
    delim = params["DELIM"]
    if len(delim) != 1 or not 32 <= ord(delim) <= 126 or delim in "# ":
        raise SpecError(f"DELIM {delim!r} is not one ASCII character other than '#' and space")
    return delim


def _observation(line: str, params: dict[str, str], number: int) -> dict[str, object]:
    delim = _check_params(params)
    parts = line.split(delim)
    if len(parts) != len(FIELDS):
        raise SpecError(f"line {number}: {len(parts)} fields, not {len(FIELDS)}")
    row = dict(zip(FIELDS, (p.strip() for p in parts), strict=True))
    for name, limit in LIMITS.items():
        if len(row[name]) > limit:
            raise SpecError(f"line {number}: {name} {row[name]!r} longer than {limit} characters")
        if row[name] == "":
            raise SpecError(f"line {number}: {name} empty (use na)")
    out: dict[str, object] = {"STARID": row["STARID"]}
    if row["STARID"].lower() == "na":
        raise SpecError(f"line {number}: STARID is required")
    date = _float(row["DATE"], "DATE", number)
    if params["DATE"].upper() in {"JD", "HJD"} and not 2_400_000 < date < 2_500_000:
        raise SpecError(f"line {number}: DATE {date} is not a Julian Date")
    out["DATE"] = date
    magnitude = row["MAGNITUDE"]
    out["FAINTER"] = magnitude.startswith("<")
    magnitude = magnitude.lstrip("<")
    if "." not in magnitude:
        raise SpecError(f"line {number}: MAGNITUDE {magnitude!r} without a decimal point")
    out["MAGNITUDE"] = _float(magnitude, "MAGNITUDE", number)
    out["MAGERR"] = _optional_number(row["MAGERR"], "MAGERR", number)
    if row["FILTER"].upper() not in FILTERS:
        raise SpecError(f"line {number}: FILTER {row['FILTER']!r} is not an AAVSO filter code")
    out["FILTER"] = row["FILTER"].upper()
    if row["TRANS"].upper() not in {"YES", "NO"}:
        raise SpecError(f"line {number}: TRANS {row['TRANS']!r} is not YES or NO")
    out["TRANS"] = row["TRANS"].upper() == "YES"
    mtype = row["MTYPE"].upper()
    if mtype not in {"STD", "DIF"}:
        raise SpecError(f"line {number}: MTYPE {row['MTYPE']!r} is not STD or DIF")
    out["MTYPE"] = mtype
    for name, mag in (("CNAME", "CMAG"), ("KNAME", "KMAG")):
        out[name] = None if row[name].lower() == "na" else row[name]
        if out[name] is None and row[mag].lower() != "na":
            raise SpecError(f"line {number}: {mag} given without {name}")
        out[mag] = _optional_number(row[mag], mag, number)
    if mtype == "DIF" and out["CNAME"] is None:
        raise SpecError(f"line {number}: MTYPE DIF needs a CNAME")
    if str(out["CNAME"]).upper() == "ENSEMBLE" and out["CMAG"] is not None:
        raise SpecError(f"line {number}: an ENSEMBLE comparison has CMAG na")
    out["AMASS"] = _optional_number(row["AMASS"], "AMASS", number)
    for name in ("GROUP", "CHART", "NOTES"):
        out[name] = None if row[name].lower() == "na" else row[name]
    return out
