"""Kinesis Agent's ``dataProcessingOptions``, as pure functions of a record's bytes.

Each converter takes one record (its bytes, newline included, the way the
agent read it) and returns the bytes to send, newline-terminated, matching
Kinesis Agent's output byte for byte where we could read its source
(awslabs/amazon-kinesis-agent, ``processing/``):

- SINGLELINE: every line stripped, then joined with *nothing* in between
  (``StringUtils.join(lines)``; the docs say "removing newline characters").
- CSVTOJSON: ``customFieldNames`` zipped with the columns split on
  ``delimiter`` (a regular expression, default ``,``); missing columns are
  null, extra ones dropped; compact JSON.
- LOGTOJSON: ``logFormat`` COMMONAPACHELOG / COMBINEDAPACHELOG /
  APACHEERRORLOG (fields ``host ident authuser datetime request response
  bytes [referer agent]`` and ``timestamp module severity processid threadid
  client message``; ``-`` becomes null) and SYSLOG / RFC3339SYSLOG (fields
  ``timestamp hostname program processid message``), or ``matchPattern``
  with ``customFieldNames``.  Every value is a string, as in Kinesis Agent.
- ADDMETADATA: the record (a JSON object, e.g. from LOGTOJSON) gets
  ``metadata`` and, with ``timestamp: "true"``, ``ts`` (UTC,
  ``yyyy-MM-ddTHH:mm:ss.SSSZ``).

A record a converter cannot handle raises ``Unprocessable`` with a reason
that never quotes the record (it may hold PII); Kinesis Agent drops such
lines silently, the agent dead-letters them.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Converter = Callable[[bytes, float], bytes]
"""(record bytes, now as epoch seconds) -> converted bytes."""


class Unprocessable(ValueError):
    """A record a processing option cannot convert; ``reason`` never quotes it."""


# --- Kinesis Agent's patterns (PatternConstants.java), in Python's syntax ---------------------------------
_INT = r"(?:[+-]?(?:[0-9]+))"
_POSINT = r"(?:[1-9][0-9]*)"
_NONNEGINT = r"(?:[0-9]+)"
_WORD = r"\w+"
_NOQUOTE = r'[^"]+'
_IP = r"(?:[\d\.]+)"
_HOSTNAME = r"(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)"
_IPORHOST = f"(?:{_HOSTNAME}|{_IP})"
_URIHOST = f"(?:{_IPORHOST}(?::{_POSINT})?)"
_USER = r"(?:[a-zA-Z0-9._-]+)"
_MONTHDAY = r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"
_DAY = r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"
_MONTH = (r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?"
          r"|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b")
_YEAR = r"(?:[1-9]\d*)"
_TIME = r"(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))"
_HTTPDATE = f"(?:{_MONTHDAY}/{_MONTH}/{_YEAR}:{_TIME}\\s{_INT})"
_ERRORLOG_TIME = f"(?:{_DAY}\\s+{_MONTH}\\s+{_MONTHDAY}\\s+{_TIME}\\s+{_YEAR})"
_SYSLOG_TIME = f"(?:{_MONTH}\\s+{_MONTHDAY}\\s+{_TIME})"
_RFC3339 = r"(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:Z|(?:[-+]\d{2}:\d{2}))"
_FACILITY = f"<{_NONNEGINT}.{_NONNEGINT}>"
_SYSLOG_PROG = r"([\w\._/%-]+)" + f"(?:\\[({_POSINT})\\])?"
_COMMON = (f"^({_IPORHOST}) ({_USER}) ({_USER}) \\[({_HTTPDATE})\\] \"({_NOQUOTE})\" ({_INT}|\\-) ({_INT}|\\-)")
_COMBINED = _COMMON + f" \"({_NOQUOTE})\" \"({_NOQUOTE})\""
_ERRORLOG = (f"^\\[({_ERRORLOG_TIME})\\] \\[(?:({_WORD}):)?({_WORD})\\] \\[pid ({_NONNEGINT})(?::tid ({_NONNEGINT}))?\\] "
             f"\\[client ({_URIHOST})\\] (.*)")
_SYSLOG = f"^({_SYSLOG_TIME}) (?:{_FACILITY} )?({_USER}) {_SYSLOG_PROG}: (.*)"
_RFC3339_SYSLOG = f"^({_RFC3339}) (?:{_FACILITY} )?({_USER}) {_SYSLOG_PROG}: (.*)"

_APACHE_FIELDS = ("host", "ident", "authuser", "datetime", "request", "response", "bytes")
_SYSLOG_FIELDS = ("timestamp", "hostname", "program", "processid", "message")


@dataclass(frozen=True)
class _LogFormat:
    pattern: str
    fields: tuple[str, ...]
    dash_is_null: bool  # Apache logs write "-" for "no value"; Kinesis Agent turns it into null


LOG_FORMATS: Mapping[str, _LogFormat] = {
    # Apache formats end in ".*" (ApacheLogParser appends it): trailing fields some servers add are allowed.
    "COMMONAPACHELOG": _LogFormat(_COMMON + ".*", _APACHE_FIELDS, True),
    "COMBINEDAPACHELOG": _LogFormat(_COMBINED + ".*", _APACHE_FIELDS + ("referer", "agent"), True),
    "APACHEERRORLOG": _LogFormat(_ERRORLOG, ("timestamp", "module", "severity", "processid", "threadid", "client",
                                             "message"), True),
    "SYSLOG": _LogFormat(_SYSLOG, _SYSLOG_FIELDS, False),
    "RFC3339SYSLOG": _LogFormat(_RFC3339_SYSLOG, _SYSLOG_FIELDS, False),
}
OPTION_NAMES = ("SINGLELINE", "CSVTOJSON", "LOGTOJSON", "ADDMETADATA")
_NOT_SUPPORTED = ("ADDBRACKETS", "ADDEC2METADATA")
_KEYS = {
    "SINGLELINE": {"optionName"},
    "CSVTOJSON": {"optionName", "customFieldNames", "delimiter", "jsonFormat"},
    "LOGTOJSON": {"optionName", "logFormat", "matchPattern", "customFieldNames", "jsonFormat"},
    "ADDMETADATA": {"optionName", "timestamp", "metadata", "jsonFormat"},
}


@dataclass(frozen=True)
class ProcessingOption:
    """One validated entry of ``dataProcessingOptions``."""

    name: str
    custom_field_names: tuple[str, ...] | None = None
    delimiter: str = ","
    log_format: str | None = None
    match_pattern: str | None = None
    timestamp: bool = False
    metadata: Any = None
    pretty: bool = False


def parse_processing_option(raw: Mapping[str, Any], where: str) -> ProcessingOption:
    """Validate one option; ValueError naming ``where.<key>`` for anything wrong."""
    name = raw.get("optionName")
    if name in _NOT_SUPPORTED:
        raise ValueError(f"{where}.optionName: {name} is not supported by shardline's agent")
    if name not in OPTION_NAMES:
        raise ValueError(f"{where}.optionName: {name!r} is not one of {', '.join(OPTION_NAMES)}")
    for key in raw:
        if key not in _KEYS[name]:
            raise ValueError(f"{where}.{key}: unknown key for {name}")
    json_format = raw.get("jsonFormat", "COMPACT")
    if json_format not in ("COMPACT", "PRETTYPRINT"):
        raise ValueError(f"{where}.jsonFormat: {json_format!r} is not one of COMPACT, PRETTYPRINT")
    fields = raw.get("customFieldNames")
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise ValueError(f"{where}.customFieldNames: must be a list of strings")
    fields = tuple(fields) if fields is not None else None
    option = ProcessingOption(name=name, custom_field_names=fields, pretty=json_format == "PRETTYPRINT")
    if name == "CSVTOJSON":
        if not fields:
            raise ValueError(f"{where}.customFieldNames: required for CSVTOJSON")
        delimiter = raw.get("delimiter", ",")
        if not isinstance(delimiter, str) or not delimiter:
            raise ValueError(f"{where}.delimiter: must be a non-empty string")
        _compile(delimiter, f"{where}.delimiter")
        return _replace(option, delimiter=delimiter)
    if name == "LOGTOJSON":
        log_format = raw.get("logFormat")
        if log_format not in LOG_FORMATS:
            raise ValueError(f"{where}.logFormat: {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        pattern = raw.get("matchPattern")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"{where}.matchPattern: must be a non-empty string")
            if fields is None:
                raise ValueError(f"{where}.customFieldNames: required with matchPattern")
            compiled = _compile(_java_regex(pattern), f"{where}.matchPattern")
            if compiled.groups != len(fields):
                raise ValueError(f"{where}.customFieldNames: {len(fields)} names for {compiled.groups} groups "
                                 "in matchPattern")
        elif fields is not None and len(fields) != len(LOG_FORMATS[log_format].fields):
            raise ValueError(f"{where}.customFieldNames: {log_format} has {len(LOG_FORMATS[log_format].fields)} "
                             f"fields, {len(fields)} names given (or give a matchPattern)")
        return _replace(option, log_format=log_format, match_pattern=pattern)
    if name == "ADDMETADATA":
        timestamp = raw.get("timestamp", "false")
        # Kinesis Agent reads it as a string ("true"/"false"); a JSON boolean is accepted too.
        if isinstance(timestamp, str) and timestamp.lower() in ("true", "false"):
            timestamp = timestamp.lower() == "true"
        if not isinstance(timestamp, bool):
            raise ValueError(f"{where}.timestamp: must be \"true\" or \"false\"")
        return _replace(option, timestamp=timestamp, metadata=raw.get("metadata"))
    return option


def _replace(option: ProcessingOption, **changes: Any) -> ProcessingOption:
    from dataclasses import replace

    return replace(option, **changes)


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: not a valid regular expression ({exc})") from None


def _java_regex(pattern: str) -> str:
    """Java's named groups ``(?<name>...)`` in Python's spelling; the rest of the syntax agrees."""
    return re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern)


# --- the converters ---------------------------------------------------------------------------------------

def _text(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\n") else text


def _dump(value: Any, pretty: bool) -> bytes:
    # Jackson's compact output: no spaces, non-ASCII written as UTF-8.
    text = json.dumps(value, ensure_ascii=False, indent=2 if pretty else None,
                      separators=None if pretty else (",", ":"))
    return (text + "\n").encode("utf-8")


def _java_split(text: str, delimiter: re.Pattern) -> list[str]:
    """Java's ``String.split(regex)``: trailing empty strings are dropped."""
    parts = delimiter.split(text)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def single_line(data: bytes, now: float = 0.0) -> bytes:
    lines = data.decode("utf-8", errors="replace").split("\n")
    return ("".join(line.strip() for line in lines) + "\n").encode("utf-8")


def csv_to_json(option: ProcessingOption) -> Converter:
    delimiter = re.compile(option.delimiter)
    names = option.custom_field_names or ()

    def convert(data: bytes, now: float = 0.0) -> bytes:
        columns = _java_split(_text(data), delimiter)
        return _dump({name: columns[i] if i < len(columns) else None for i, name in enumerate(names)}, option.pretty)
    return convert


def log_to_json(option: ProcessingOption) -> Converter:
    known = LOG_FORMATS[option.log_format]
    if option.match_pattern is not None:
        pattern, fields, dash_is_null = re.compile(_java_regex(option.match_pattern)), option.custom_field_names, \
            known.dash_is_null
    else:
        pattern, fields, dash_is_null = re.compile(known.pattern), option.custom_field_names or known.fields, \
            known.dash_is_null

    def convert(data: bytes, now: float = 0.0) -> bytes:
        match = pattern.fullmatch(_text(data))  # Java's Matcher.matches(): the whole record
        if match is None:
            raise Unprocessable(f"the record does not match the {option.log_format} pattern")
        values = match.groups()
        if dash_is_null:
            values = tuple(None if v == "-" else v for v in values)
        return _dump(dict(zip(fields, values)), option.pretty)
    return convert


def add_metadata(option: ProcessingOption) -> Converter:
    def convert(data: bytes, now: float = 0.0) -> bytes:
        try:
            record = json.loads(_text(data))
        except ValueError:
            raise Unprocessable("ADDMETADATA needs a JSON object (put LOGTOJSON or CSVTOJSON before it)") from None
        if not isinstance(record, dict):
            raise Unprocessable("ADDMETADATA needs a JSON object, the record is another JSON value")
        if option.timestamp:
            when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
            record["ts"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        record["metadata"] = option.metadata
        return _dump(record, option.pretty)
    return convert


def build_converter(options: tuple[ProcessingOption, ...]) -> Converter | None:
    """One function applying ``options`` in order; None when there are none (send the bytes as read)."""
    if not options:
        return None
    steps: list[Converter] = []
    for option in options:
        if option.name == "SINGLELINE":
            steps.append(single_line)
        elif option.name == "CSVTOJSON":
            steps.append(csv_to_json(option))
        elif option.name == "LOGTOJSON":
            steps.append(log_to_json(option))
        else:
            steps.append(add_metadata(option))

    def convert(data: bytes, now: float) -> bytes:
        for step in steps:
            data = step(data, now)
        return data
    return convert
