"""Follow-up reports ready to send: circular-style text and JSON per target (``docs/transients.md``)."""

from rpf.report.circular import circular_text, follow_up_reports, write_reports

__all__ = ["circular_text", "follow_up_reports", "write_reports"]
