"""Declarative pipelines: a YAML file says who gets which text; the runner plans, sends, checks."""

from .context import UI, RunInfo, RunOptions
from .journals import find_journal
from .runner import Runner, recheck
from .spec import Pipeline, load_pipeline, parse_duration
from .stopping import StopRequest
from .summary import PlanReport, Summary, format_summary

__all__ = [
    "UI",
    "Pipeline",
    "PlanReport",
    "RunInfo",
    "RunOptions",
    "Runner",
    "StopRequest",
    "Summary",
    "find_journal",
    "format_summary",
    "load_pipeline",
    "parse_duration",
    "recheck",
]
