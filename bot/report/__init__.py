"""The trial report (report.csv + report.html) built from a database snapshot."""

from bot.report.trial_report import ReportFiles, build_report

__all__ = ["ReportFiles", "build_report"]
