"""Pipeline files: YAML in, validated `Pipeline` objects out, every error with file:line:column.

The keys are declared once, as data (`_SECTIONS`), so validation, did-you-mean suggestions and
defaults all come from the same table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..api import LANGS, MAX_BATCH
from ..cells import LOCALES
from ..errors import PipelineError, did_you_mean
from ..plugins import collect, get_plugin_manager
from ..render_limits import TemplateLimits
from ..sources import Source
from ..text import DEFAULT_MAX_SEGMENTS
from ..window import DEFAULT_TIMEZONE, SendWindow, parse_window, zone

# Keys that decide how texts go, how they are checked and who hears of it, not who gets which
# text: editing them resumes a run (see `identity.py`).
HOW_NOT_WHAT = frozenset({"description", "send", "report", "notify", "privacy", "limits"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_A_DURATION = "a duration (like 30s, 10m, 1h30m, 500ms, 90d)"
PURPOSES = ("informational", "commercial")
CONSENT_PLUGIN = "plugin:"
BUILT_IN_CONSENT = "masgsm_notify.consent"  # the plugin that reads İYS records files


@dataclass(frozen=True)
class Key:
    """One allowed key: its type(s), default, and a check returning an error text or None."""

    types: tuple[type, ...]
    default: Any = None
    check: Any = None
    required: bool = False


def _between(low: int, high: int):
    return lambda v: None if low <= v <= high else f"expected a number from {low} to {high}"


def _at_least(low: int):
    return lambda v: None if v >= low else f"expected at least {low}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "expected a number above 0"


def _one_of(*choices: str):
    return lambda v: None if v in choices else f"expected one of {', '.join(choices)}"


def _duration_check(at_least: float = 0.0):
    def check(value: Any) -> str | None:
        try:
            seconds = parse_duration(value)
        except ValueError:
            return f"expected {_A_DURATION}"  # the caller adds the value
        return None if seconds >= at_least else f"expected at least {at_least:g} s"

    return check


def _dedupe_check(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    return _duration_check()(value)


def _text_keys(value: Any) -> str | None:
    """Names in vars (at any depth) are looked up from templates (vars.NAME), so they are text."""
    if isinstance(value, list):
        return next(filter(None, map(_text_keys, value)), None)
    if not isinstance(value, dict):
        return None
    odd = [key for key in value if not isinstance(key, str)]
    if odd:
        return f"names must be text, not {odd[0]!r}"
    return next(filter(None, map(_text_keys, value.values())), None)


_SECTIONS: dict[str, dict[str, Key]] = {
    "": {
        "name": Key((str,), required=True),
        "description": Key((str,)),
        "service": Key((str, dict)),
        "run_key": Key((str,)),
        "vars": Key((dict,), default={}, check=_text_keys),
        "locale": Key((str,), default="tr", check=_one_of(*LOCALES)),
        "templates": Key((list,), default=[]),
        "recipients": Key((dict,), required=True),
        "message": Key((dict,), required=True),
        "send": Key((dict,), default={}),
        "report": Key((dict,), default={}),
        "notify": Key((list,), default=[]),
        "compliance": Key((dict,), default={}),
        "limits": Key((dict,), default={}),
        "privacy": Key((str,), default="show", check=_one_of("show", "mask")),
    },
    "service": {  # the mapping form; the password is never among them
        "user": Key((str, int)),
        "title": Key((str,)),
        "base": Key((str,)),
        "lang": Key((str,), check=_one_of(*LANGS)),
        "method": Key((str,), check=_one_of("post", "get")),
        "password_file": Key((str,)),
    },
    "recipients": {
        "number": Key((str,), default="{{ phone }}"),
        "when": Key((str, bool)),
    },
    "message": {
        "template": Key((str,)),
        "inline": Key((str,)),
        "lang": Key((str,), default="auto", check=_one_of("auto", "tr", "plain")),
        "title": Key((str,)),
    },
    "send": {
        "batch_size": Key((int,), default=500, check=_between(1, MAX_BATCH)),
        "concurrency": Key((int,), default=4, check=_between(1, 64)),
        "max_segments": Key((int,), default=DEFAULT_MAX_SEGMENTS, check=_between(1, 20)),
        "on_invalid": Key((str,), default="fail", check=_one_of("fail", "skip")),
        "retries": Key((int,), default=5, check=_between(0, 20)),
        "durable": Key((bool,), default=False),
        "timeout": Key((str, int, float), default="30s", check=_duration_check(0.1)),
        "dedupe": Key((str, int, float), check=_dedupe_check),
        "give_up_after": Key((str, int, float), default="60s", check=_duration_check(0.1)),
        "max_credits": Key((int,), check=_at_least(1)),
        "rate": Key((int, float), check=_positive),
        "window": Key((str,)),
        "timezone": Key((str,), default=DEFAULT_TIMEZONE),
    },
    "limits": {
        "output_chars": Key(
            (int,), default=TemplateLimits.output_chars, check=_between(1, 100_000_000)
        ),
        "loop_iterations": Key(
            (int,), default=TemplateLimits.loop_iterations, check=_between(1, 1_000_000_000)
        ),
        "built_chars": Key((int,), check=_between(1, 10_000_000_000)),
    },
    "report": {
        "check": Key((bool,), default=True),
        "wait": Key((str, int, float), default="2m", check=_duration_check()),
        "poll_every": Key((str, int, float), default="30s", check=_duration_check(0.1)),
        "fail_if": Key((str,)),
        "export": Key((str,)),
    },
    "compliance": {
        "purpose": Key((str,), default="informational", check=_one_of(*PURPOSES)),
        "optout_text": Key((str,)),
        "consent": Key((str,)),
        "honour_optouts": Key((bool,)),
    },
}


@dataclass(frozen=True)
class RecipientsSpec:
    source: str
    value: Any
    options: dict[str, Any]
    number: str
    when: str | None
    where: str  # location of the source key
    number_where: str
    when_where: str


@dataclass(frozen=True)
class MessageSpec:
    template: str | None
    inline: str | None
    lang: str
    title: str | None
    where: str


@dataclass(frozen=True)
class SendSpec:
    batch_size: int
    concurrency: int
    max_segments: int
    on_invalid: str
    retries: int
    durable: bool
    timeout: float  # seconds to wait for an answer to one request
    dedupe: float | str | None  # seconds; "off"; None: the default for the kind of run
    give_up_after: float  # seconds of MASGSM unreachable in a row before the run stops
    max_credits: int | None  # the most this run key may spend, over all its attempts
    rate: float | None  # texts per second across batches
    window: SendWindow | None = None  # the hours texts may go out in; None: any time
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True)
class ReportSpec:
    check: bool
    wait: float
    poll_every: float
    fail_if: str | None
    fail_if_where: str
    export: str | None


@dataclass(frozen=True)
class ComplianceSpec:
    """What the law asks of the texts: their purpose, consent, opt-outs (see compliance.py)."""

    purpose: str = "informational"
    optout_text: str | None = None  # appended to every text that does not end with it
    consent: str | None = None  # a CSV of İYS records (relative to the pipeline), or plugin:NAME
    consent_where: str = ""
    honour_optouts: bool = False

    @property
    def commercial(self) -> bool:
        return self.purpose == "commercial"


@dataclass(frozen=True)
class Pipeline:
    path: Path
    identity: str  # the keys that decide who gets which text, as canonical JSON
    name: str
    description: str | None
    service: str | dict[str, str] | None  # a masgsm:// URL template, or the mapping's settings
    service_where: str
    run_key: str | None
    run_key_where: str
    vars: dict[str, Any]
    templates: list[Path]
    recipients: RecipientsSpec
    message: MessageSpec
    send: SendSpec
    report: ReportSpec
    notify: list[str] = field(default_factory=list)
    locale: str = "tr"  # how `1.250` and `1,250` read (see cells)
    compliance: ComplianceSpec = field(default_factory=ComplianceSpec)
    privacy: str = "show"  # "mask": numbers are shown masked everywhere but the journal
    limits: TemplateLimits = field(default_factory=TemplateLimits)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def template_dirs(self) -> list[Path]:
        """Where message templates are looked up, first match wins."""
        return [
            *self.templates,
            self.base_dir / "templates",
            self.base_dir.parent / "templates",
            Path.cwd() / "templates",
        ]


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `30s`, `10m`, `1h30m`, `500ms`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    text = str(value).strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not {_A_DURATION}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def load_pipeline(path: Path) -> Pipeline:
    """Read and validate a pipeline file; every problem is a PipelineError naming its place."""
    shown = str(path)
    if not path.is_file():
        raise PipelineError(f"{shown}: pipeline file not found")
    data = yamlfile.load_file(path, shown)
    if not isinstance(data, dict):
        raise PipelineError(f"{shown}:1:1: a pipeline is a mapping of keys (name, recipients, ...)")
    top = _validate(data, "", getattr(data, "where", "") or shown)
    sources = collect("register_sources")
    recipients = _recipients(data["recipients"], sources)
    message = _message(data["message"])
    send_values = _validate(data.get("send", {}), "send", yamlfile.where(data, "send"))
    send = SendSpec(
        **{
            **send_values,
            "timeout": parse_duration(send_values["timeout"]),
            "give_up_after": parse_duration(send_values["give_up_after"]),
            "dedupe": _dedupe(send_values["dedupe"]),
            "window": _window(send_values, data.get("send", {})),
        }
    )
    report_raw = data.get("report", {})
    report = _validate(report_raw, "report", yamlfile.where(data, "report"))
    notify = _string_list(data.get("notify", []), "notify")
    templates = _string_list(data.get("templates", []), "templates")
    limits = _limits(data.get("limits", {}), yamlfile.where(data, "limits") or shown)
    return Pipeline(
        path=path,
        identity=json.dumps(
            {key: value for key, value in data.items() if key not in HOW_NOT_WHAT}, default=str
        ),
        name=top["name"],
        description=top["description"],
        service=_service(top["service"], yamlfile.where(data, "service"), path.parent),
        service_where=yamlfile.where(data, "service") or shown,
        run_key=top["run_key"],
        run_key_where=f"{yamlfile.where(data, 'run_key') or shown} (run_key)",
        vars=dict(top["vars"]),
        templates=[path.parent / t for t in templates],
        recipients=recipients,
        message=message,
        send=send,
        report=ReportSpec(
            check=report["check"],
            wait=parse_duration(report["wait"]),
            poll_every=parse_duration(report["poll_every"]),
            fail_if=report["fail_if"],
            fail_if_where=yamlfile.where(report_raw, "fail_if"),
            export=report["export"],
        ),
        notify=notify,
        locale=top["locale"],
        compliance=_compliance(
            data.get("compliance", {}), yamlfile.where(data, "compliance") or shown, path
        ),
        privacy=top["privacy"],
        limits=limits,
    )


def _limits(data: Any, where: str) -> TemplateLimits:
    limits = TemplateLimits(**_validate(data, "limits", where))
    if limits.built_chars < limits.output_chars:  # type: ignore[operator]
        raise PipelineError(
            f"{yamlfile.where(data, 'built_chars') or where}: limits: built_chars "
            f"({limits.built_chars:,}) is less than output_chars ({limits.output_chars:,}); "
            "a render builds at least its text"
        )
    return limits


def _window(values: dict[str, Any], data: Any) -> SendWindow | None:
    """`send.window` in `send.timezone`; a bad one names its place."""
    try:
        zone(values["timezone"])
    except ValueError as error:
        at = yamlfile.where(data, "timezone")
        raise PipelineError(f"{at}: send: timezone: {error}") from None
    if values["window"] is None:
        return None
    try:
        return parse_window(values["window"], values["timezone"])
    except ValueError as error:
        raise PipelineError(
            f"{yamlfile.where(data, 'window')}: send: window {values['window']!r}: {error}"
        ) from None


def _compliance(data: Any, where: str, path: Path) -> ComplianceSpec:
    """The compliance: section; a commercial pipeline without consent records or an opt-out
    text is refused here, before anything is read or sent."""
    values = _validate(data, "compliance", where)
    commercial = values["purpose"] == "commercial"
    optout_text = (values["optout_text"] or "").strip() or None
    consent = (values["consent"] or "").strip() or None
    needs = {
        "consent": "İYS consent records (a CSV such as data/iys.csv) or plugin:NAME: commercial "
        "texts to individuals need their prior consent (Law 6563)",
        "optout_text": "the free way to refuse further texts that every commercial text carries "
        '(such as "RET yazıp 4607\'ye gönderin")',
    }
    for key, value in (("consent", consent), ("optout_text", optout_text)):
        if commercial and value is None:
            raise PipelineError(
                f"{where}: compliance: purpose is commercial, so compliance.{key} is required: "
                f"{needs[key]}. Nothing was sent."
            )
    consent_where = yamlfile.where(data, "consent") or where
    if consent is not None:
        _check_consent(consent, consent_where, path.parent)
    honour = values["honour_optouts"]
    return ComplianceSpec(
        purpose=values["purpose"],
        optout_text=optout_text,
        consent=consent,
        consent_where=consent_where,
        honour_optouts=commercial if honour is None else honour,
    )


def _check_consent(consent: str, where: str, folder: Path) -> None:
    """The records file exists, or the plugin named is loaded and answers consent_status."""
    if consent.startswith(CONSENT_PLUGIN):
        name = consent[len(CONSENT_PLUGIN) :].strip()
        answering = consent_plugins()
        if name not in answering:
            known = ", ".join(answering) or "none is installed"
            raise PipelineError(
                f"{where}: compliance.consent: no loaded plugin named {name!r} answers "
                f"consent_status (plugins that do: {known}); `masgsm-notify plugins` lists them"
            )
    elif not (folder / consent).is_file():
        raise PipelineError(
            f"{where}: compliance.consent: the İYS records file {str(folder / consent)!r} was "
            "not found"
        )


def consent_plugins() -> list[str]:
    """Names of the installed plugins that answer consent_status (the built-in reader aside)."""
    hook = get_plugin_manager().hook.consent_status
    names = (impl.plugin_name for impl in hook.get_hookimpls())
    return [name for name in names if name != BUILT_IN_CONSENT]


def _dedupe(value: Any) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "off":
        return "off"
    return parse_duration(value)


def _validate(
    data: Any, section: str, where: str, extra: dict[str, Key] | None = None
) -> dict[str, Any]:
    """Check a mapping against its declared keys; return every key with defaults filled in."""
    label = f"{section}: " if section else ""
    if not isinstance(data, dict):
        raise PipelineError(f"{where}: {label}expected a mapping of keys")
    keys = {**_SECTIONS[section], **(extra or {})}
    for key, value in data.items():
        at = yamlfile.where(data, key) or where
        spec = keys.get(key)
        if spec is None:
            hint = did_you_mean(str(key), keys, f"; known keys: {', '.join(keys)}")
            at = yamlfile.key_where(data, key) or where
            raise PipelineError(f"{at}: {label}unknown key {key!r}{hint}")
        wrong_bool = isinstance(value, bool) and not {bool, object} & set(spec.types)
        if wrong_bool or not isinstance(value, spec.types):
            wanted = " or ".join(_TYPE_NAMES[t] for t in spec.types)
            raise PipelineError(f"{at}: {label}{key} should be {wanted}, got {value!r:.60}")
        problem = spec.check(value) if spec.check else None
        if problem:
            raise PipelineError(f"{at}: {label}{key}: {problem}, got {value!r:.60}")
    for key, spec in keys.items():
        if spec.required and key not in data:
            raise PipelineError(f"{where}: {label}the key {key!r} is required")
    return {key: data.get(key, spec.default) for key, spec in keys.items()}


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


def _service(value: Any, where: str, folder: Path) -> str | dict[str, str] | None:
    """The URL as it is; the mapping checked, with its password_file found from the pipeline's
    folder."""
    if not isinstance(value, dict):
        return value
    if "password" in value:
        raise PipelineError(
            f"{yamlfile.key_where(value, 'password')}: service: the password never goes in a "
            "pipeline file: set MASGSM_PASSWORD, or name a file that holds it with password_file"
        )
    values = _validate(value, "service", where)
    settings = {key: str(item) for key, item in values.items() if item is not None}
    if "password_file" in settings:
        settings["password_file"] = str(folder / Path(settings["password_file"]).expanduser())
    return settings


def _recipients(data: Any, sources: dict[str, type[Source]]) -> RecipientsSpec:
    where = getattr(data, "where", "")
    chosen = [key for key in data if key in sources] if isinstance(data, dict) else []
    if len(chosen) != 1:
        names = ", ".join(sources)
        problem = "name exactly one source" if chosen else "name a source"
        raise PipelineError(f"{where}: recipients: {problem} ({names})")
    source = sources[chosen[0]]
    extra = {chosen[0]: Key((object,))}
    extra.update({name: Key((kind,)) for name, kind in source.options.items()})
    values = _validate(data, "recipients", where, extra)
    when = values["when"]
    if isinstance(when, str) and "{{" not in when and "{%" not in when:
        raise PipelineError(
            f"{yamlfile.where(data, 'when') or where}: recipients: when: {when!r:.60} has no "
            "{{ }}: it is plain text, the same for every row, not a test of the row. Write the "
            'test inside braces: when: "{{ ' + when.strip() + ' }}"'
        )
    return RecipientsSpec(
        source=chosen[0],
        value=data[chosen[0]],
        options={name: values[name] for name in source.options if values[name] is not None},
        number=values["number"],
        when=None if when is None else str(when),
        where=yamlfile.where(data, chosen[0]),
        number_where=yamlfile.where(data, "number") or where,
        when_where=yamlfile.where(data, "when") or where,
    )


def _message(data: Any) -> MessageSpec:
    where = getattr(data, "where", "")
    values = _validate(data, "message", where)
    if (values["template"] is None) == (values["inline"] is None):
        raise PipelineError(
            f"{where}: message: give exactly one of 'template' (a file in "
            "templates/) or 'inline' (the template text)"
        )
    at = yamlfile.where(data, "template" if values["template"] else "inline")
    return MessageSpec(values["template"], values["inline"], values["lang"], values["title"], at)


def _string_list(items: list, section: str) -> list[str]:
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item or "\0" in item:  # NUL: no path or URL has one
            raise PipelineError(
                f"{yamlfile.where(items, index)}: {section}: each entry should "
                f"be text, got {item!r:.60}"
            )
    return list(items)
