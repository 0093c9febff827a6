"""Declarative pipelines: a YAML file says who gets which text; the runner plans, sends, checks."""

from .runner import UI, RunInfo, Runner, RunOptions, default_journal, find_journal, recheck
from .spec import Pipeline, PipelineError, load_pipeline, parse_duration
from .summary import Summary, format_summary

__all__ = [
    "UI",
    "Pipeline",
    "PipelineError",
    "RunInfo",
    "RunOptions",
    "Runner",
    "Summary",
    "default_journal",
    "find_journal",
    "format_summary",
    "load_pipeline",
    "parse_duration",
    "recheck",
]
