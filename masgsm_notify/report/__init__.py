"""A run's report as one offline HTML page (`run --html`, `check --html`)."""

from .page import write_report

__all__ = ["write_report"]
