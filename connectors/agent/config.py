"""The agent's configuration: Kinesis Agent's own ``agent.json``, read strictly.

Kinesis Agent (awslabs/amazon-kinesis-agent) reads its keys lazily and ignores
any it does not know, so a typo (``"initalPosition"``) silently does nothing.
Here every key Kinesis Agent defines is accepted (``AgentConfiguration``,
``AgentContext``, ``FileFlow``, ``KinesisFileFlow``, ``ProcessingUtilsFactory``
and the processors), an unknown key or a bad value is a ``ValueError`` that
names the key's path (``flows[1].dataProcessingOptions[0].optionName``), and
keys that only tune Kinesis Agent's Java internals (thread pools, CloudWatch)
are accepted and ignored, so an existing file works unchanged.

Our extensions (Kinesis Agent ignores unknown keys, so a file using them still
runs there): top-level ``stateDirectory``; per flow ``partitionKeyOption:
"FIELD"`` with ``partitionKeyField``, and ``kplAggregation``.

Every default is in this module, in the dataclasses below.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipelines.agent.processing import ProcessingOption, parse_processing_option

KINESIS_MAX_RECORD_BYTES = 1024 * 1024
"""Kinesis' limit for one record (data + partition key)."""
FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024
"""Firehose's limit for one record."""
MAX_BUFFER_RECORDS = 500
"""PutRecords and PutRecordBatch take at most 500 records a call."""

# Top-level keys Kinesis Agent reads that configure its Java runtime or CloudWatch: accepted, not used.
IGNORED_TOP_LEVEL = frozenset({
    "assumeRoleARN", "assumeRoleExternalId", "checkpointTimeToLiveDays", "cloudwatch.emitMetrics",
    "cloudwatch.endpoint", "cloudwatch.metricsBufferTimeMillis", "cloudwatch.metricsQueueSize",
    "cloudwatch.namespace", "cloudwatch.tagInstance", "connectionTTLMillis", "connectionTimeoutMillis",
    "log.emitInternalMetrics", "log.emitMetrics", "log.statusReportingPeriodSeconds", "maxConnections",
    "maxSendingThreads", "maxSendingThreadsPerCore", "sendingThreadsKeepAliveMillis", "sendingThreadsMaxQueueSize",
    "shutdownTimeoutMillis", "socketTimeoutMillis", "sts.endpoint", "useHttpGzip", "useTcpKeepAlive", "userAgent",
    "userAgentOverride", "userDefinedCredentialsProvider.classname", "userDefinedCredentialsProvider.location",
})
USED_TOP_LEVEL = frozenset({"flows", "checkpointFile", "kinesis.endpoint", "kinesis.region", "firehose.endpoint",
                            "awsAccessKeyId", "awsSecretAccessKey", "stateDirectory"})
# Flow keys that tune Kinesis Agent's publishing queues: accepted, not used (our producer paces and retries).
IGNORED_FLOW = frozenset({
    "waitOnFullPublishQueueMillis", "waitOnEmptyPublishQueueMillis", "waitOnFullRetryQueueMillis",
    "publishQueueCapacity", "log.emitInternalMetrics",
})
USED_FLOW = frozenset({
    "filePattern", "kinesisStream", "deliveryStream", "initialPosition", "multiLineStartPattern", "skipHeaderLines",
    "truncatedRecordTerminator", "maxBufferAgeMillis", "maxBufferSizeRecords", "maxBufferSizeBytes",
    "partitionKeyOption", "partitionKeyField", "kplAggregation", "aggregatedRecordSizeBytes", "dataProcessingOptions",
    "fileFooterPattern", "minTimeBetweenFilePollsMillis", "maxTimeBetweenFileTrackerRefreshMillis",
    "retryInitialBackoffMillis", "retryMaxBackoffMillis",
})
INITIAL_POSITIONS = ("START_OF_FILE", "END_OF_FILE")
PARTITION_KEY_OPTIONS = ("RANDOM", "DETERMINISTIC", "FIELD")


def default_state_directory() -> Path:
    """``$XDG_STATE_HOME/shardline/agent``, else ``~/.local/state/shardline/agent``: it survives reboots,
    unlike Kinesis Agent's /var/run (a tmpfs on most distributions, so its checkpoints vanish)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "shardline" / "agent"


@dataclass(frozen=True)
class FlowConfig:
    """One flow: files matching ``file_pattern`` shipped to one stream.  Every default is here."""

    file_pattern: str
    """A glob (``/var/log/app/*.log``); rescanned every ``rescan_s`` so late files are found."""
    kinesis_stream: str | None = None
    """Kinesis Data Streams destination (exactly one of this and ``delivery_stream``)."""
    delivery_stream: str | None = None
    """Firehose destination."""
    initial_position: str = "END_OF_FILE"
    """Where to start in files found at startup with no checkpoint; files created later start at 0."""
    multi_line_start_pattern: str | None = None
    """A regex a record's first line matches; the lines up to the next match join that record."""
    skip_header_lines: int = 0
    """Lines skipped at the start of every file (CSV headers)."""
    truncated_record_terminator: bytes = b"\n"
    """Appended to a record cut at the destination's size limit."""
    max_buffer_age_s: float = 60.0
    """Longest a read record waits before its batch is flushed and checkpointed (Kinesis Agent: 1 s to 15 min)."""
    max_buffer_records: int = MAX_BUFFER_RECORDS
    """Records per PutRecords / PutRecordBatch call (1-500)."""
    max_buffer_bytes: int = 5 * 1024 * 1024
    """Bytes per call (Kinesis 5 MiB, Firehose 4 MiB)."""
    partition_key_option: str = "RANDOM"
    """RANDOM: spread over shards; DETERMINISTIC: a line's shard follows its bytes (Kinesis Agent's md5 of the
    data); FIELD: the shard follows ``partition_key_field`` of the processed JSON record (our extension).
    In every case the partition key on the wire is the record id (see ``agent.py``)."""
    partition_key_field: str | None = None
    """The JSON field that picks the shard with ``partitionKeyOption: FIELD``."""
    kpl_aggregation: bool = False
    """Pack records into KPL aggregates (consumers must de-aggregate; the KCL and shardline's consumer do)."""
    aggregated_record_size_bytes: int = 0
    """Firehose only: join records up to this many bytes into one Firehose record (0: one line, one record)."""
    processing: tuple[ProcessingOption, ...] = ()
    """``dataProcessingOptions``, applied in order."""
    file_footer_pattern: str | None = None
    """A regex; a line matching it ends the file: nothing after it is sent."""
    poll_s: float = 0.1
    """Pause between reads when nothing is new (``minTimeBetweenFilePollsMillis``)."""
    rescan_s: float = 10.0
    """Longest time between glob rescans (``maxTimeBetweenFileTrackerRefreshMillis``)."""
    retry_initial_backoff_s: float = 0.1
    """First wait after a failed delivery."""
    retry_max_backoff_s: float = 10.0
    """Longest wait between delivery attempts."""

    @property
    def destination(self) -> str:
        return f"kinesis:{self.kinesis_stream}" if self.kinesis_stream else f"firehose:{self.delivery_stream}"

    @property
    def max_record_bytes(self) -> int:
        return KINESIS_MAX_RECORD_BYTES if self.kinesis_stream else FIREHOSE_MAX_RECORD_BYTES


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent.  Every default is here."""

    flows: tuple[FlowConfig, ...]
    state_directory: Path = field(default_factory=default_state_directory)
    """Holds the checkpoint database and the dead letters."""
    checkpoint_file: Path | None = None
    """Kinesis Agent's ``checkpointFile``: if given, the SQLite database lives there instead."""
    kinesis_endpoint: str | None = None
    """Overrides the Kinesis endpoint (else AWS_ENDPOINT_URL_KINESIS, else the region's)."""
    kinesis_region: str | None = None
    firehose_endpoint: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    checkpoint_ttl_days: int = 7
    """Checkpoints of files gone for this long are forgotten (``checkpointTimeToLiveDays``)."""

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_file or self.state_directory / "checkpoints.sqlite"

    @property
    def dead_letter_path(self) -> Path:
        return self.state_directory / "dead-letters.dlq.jsonl"


# --- reading -------------------------------------------------------------------------------------------

def load_config(path: str | Path) -> AgentConfig:
    """Read ``agent.json``; ValueError naming the key for anything unknown or invalid."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    return parse_config(raw)


def parse_config(raw: Any) -> AgentConfig:
    obj = _Object(raw, "")
    obj.check_keys(USED_TOP_LEVEL | IGNORED_TOP_LEVEL)
    flows_raw = obj.get("flows", list, required=True)
    if not flows_raw:
        raise ValueError("flows: at least one flow is required")
    flows = tuple(_parse_flow(_Object(item, f"flows[{i}]")) for i, item in enumerate(flows_raw))
    seen: dict[tuple[str, str], int] = {}
    for i, flow in enumerate(flows):
        key = (flow.file_pattern, flow.destination)
        if key in seen:
            raise ValueError(f"flows[{i}]: duplicate of flows[{seen[key]}] (same filePattern and destination)")
        seen[key] = i
    state = obj.get("stateDirectory", str)
    checkpoint = obj.get("checkpointFile", str)
    ttl = obj.get("checkpointTimeToLiveDays", int, check=lambda v: v >= 1, rule="at least 1")
    return AgentConfig(
        flows=flows,
        state_directory=Path(state).expanduser() if state else default_state_directory(),
        checkpoint_file=Path(checkpoint).expanduser() if checkpoint else None,
        kinesis_endpoint=_endpoint(obj.get("kinesis.endpoint", str)),
        kinesis_region=obj.get("kinesis.region", str) or None,
        firehose_endpoint=_endpoint(obj.get("firehose.endpoint", str)),
        aws_access_key_id=obj.get("awsAccessKeyId", str) or None,
        aws_secret_access_key=obj.get("awsSecretAccessKey", str) or None,
        checkpoint_ttl_days=ttl if ttl is not None else 7,
    )


def _endpoint(value: str | None) -> str | None:
    # Kinesis Agent's examples give bare host names ("kinesis.us-west-2.amazonaws.com"); botocore needs a URL.
    if not value:
        return None
    return value if "://" in value else f"https://{value}"


def _parse_flow(obj: "_Object") -> FlowConfig:
    obj.check_keys(USED_FLOW | IGNORED_FLOW)
    pattern = obj.get("filePattern", str, required=True, check=bool, rule="a non-empty glob")
    kinesis, firehose = obj.get("kinesisStream", str), obj.get("deliveryStream", str)
    if bool(kinesis) == bool(firehose):
        raise ValueError(f"{obj.path}: give exactly one of kinesisStream and deliveryStream")
    max_bytes_limit = 5 * 1024 * 1024 if kinesis else 4 * 1024 * 1024
    key_option = obj.get("partitionKeyOption", str, choices=PARTITION_KEY_OPTIONS) or "RANDOM"
    key_field = obj.get("partitionKeyField", str)
    if key_option == "FIELD" and not key_field:
        raise ValueError(f"{obj.path}.partitionKeyField: required with partitionKeyOption FIELD")
    if key_field and key_option != "FIELD":
        raise ValueError(f"{obj.path}.partitionKeyField: only used with partitionKeyOption FIELD")
    if firehose and (obj.has("partitionKeyOption") or obj.has("kplAggregation")):
        raise ValueError(f"{obj.path}: partitionKeyOption and kplAggregation apply to kinesisStream flows only")
    aggregated = obj.get("aggregatedRecordSizeBytes", int, check=lambda v: 0 <= v <= FIREHOSE_MAX_RECORD_BYTES,
                         rule=f"between 0 and {FIREHOSE_MAX_RECORD_BYTES}") or 0
    if aggregated and kinesis:
        raise ValueError(f"{obj.path}.aggregatedRecordSizeBytes: applies to deliveryStream flows; "
                         "for Kinesis use kplAggregation")
    terminator = obj.get("truncatedRecordTerminator", str)
    if terminator is not None and not terminator:
        raise ValueError(f"{obj.path}.truncatedRecordTerminator: must not be empty")
    options_raw = obj.get("dataProcessingOptions", list) or []
    processing = []
    for i, item in enumerate(options_raw):
        where = f"{obj.path}.dataProcessingOptions[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object")
        processing.append(parse_processing_option(item, where))
    for key in ("multiLineStartPattern", "fileFooterPattern"):
        _check_regex(obj, key)
    return FlowConfig(
        file_pattern=os.path.expanduser(pattern),
        kinesis_stream=kinesis or None,
        delivery_stream=firehose or None,
        initial_position=obj.get("initialPosition", str, choices=INITIAL_POSITIONS) or "END_OF_FILE",
        multi_line_start_pattern=obj.get("multiLineStartPattern", str) or None,
        skip_header_lines=obj.get("skipHeaderLines", int, check=lambda v: v >= 0, rule="at least 0") or 0,
        truncated_record_terminator=(terminator if terminator is not None else "\n").encode("utf-8"),
        max_buffer_age_s=_millis(obj, "maxBufferAgeMillis", 60_000, 1_000, 900_000),
        max_buffer_records=obj.get("maxBufferSizeRecords", int, check=lambda v: 1 <= v <= MAX_BUFFER_RECORDS,
                                   rule=f"between 1 and {MAX_BUFFER_RECORDS}") or MAX_BUFFER_RECORDS,
        max_buffer_bytes=obj.get("maxBufferSizeBytes", int, check=lambda v: 1 <= v <= max_bytes_limit,
                                 rule=f"between 1 and {max_bytes_limit}") or max_bytes_limit,
        partition_key_option=key_option,
        partition_key_field=key_field or None,
        kpl_aggregation=bool(obj.get("kplAggregation", bool)),
        aggregated_record_size_bytes=aggregated,
        processing=tuple(processing),
        file_footer_pattern=obj.get("fileFooterPattern", str) or None,
        poll_s=_millis(obj, "minTimeBetweenFilePollsMillis", 100, 1, 60_000),
        rescan_s=_millis(obj, "maxTimeBetweenFileTrackerRefreshMillis", 10_000, 1, 3_600_000),
        retry_initial_backoff_s=_millis(obj, "retryInitialBackoffMillis", 100, 1, 600_000),
        retry_max_backoff_s=_millis(obj, "retryMaxBackoffMillis", 10_000, 1, 3_600_000),
    )


def _millis(obj: "_Object", key: str, default: int, low: int, high: int) -> float:
    value = obj.get(key, int, check=lambda v: low <= v <= high, rule=f"between {low} and {high} ms")
    return (default if value is None else value) / 1000.0


def _check_regex(obj: "_Object", key: str) -> None:
    pattern = obj.get(key, str)
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{obj.path}.{key}: not a valid regular expression ({exc})") from None


class _Object:
    """A JSON object being read, with its path for error messages."""

    def __init__(self, raw: Any, path: str) -> None:
        if not isinstance(raw, dict):
            raise ValueError(f"{path or 'the configuration'}: must be a JSON object")
        self.raw, self.path = raw, path

    def _key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def check_keys(self, known: frozenset[str]) -> None:
        for key in self.raw:
            if key not in known:
                hint = _closest(key, known)
                raise ValueError(f"{self._key_path(key)}: unknown key" + (f" (did you mean {hint!r}?)" if hint else ""))

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, kind: type, *, required: bool = False, choices: tuple[str, ...] = (),
            check: Callable[[Any], bool] | None = None, rule: str = "") -> Any:
        where = self._key_path(key)
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise ValueError(f"{where}: required")
            return None
        value = self.raw[key]
        # Kinesis Agent's Configuration converts strings: "true", "5000" are accepted where a bool/int is due.
        if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif kind is int and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{where}: must be an integer, not {type(value).__name__}")
        if kind is not int and not isinstance(value, kind):
            raise ValueError(f"{where}: must be a {kind.__name__}, not {type(value).__name__}")
        if choices and value not in choices:
            raise ValueError(f"{where}: {value!r} is not one of {', '.join(choices)}")
        if check is not None and not check(value):
            raise ValueError(f"{where}: {value!r} is out of range (must be {rule})")
        return value


def _closest(key: str, known: frozenset[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None
