"""The daemon side of the KCL: configure and start the Java MultiLangDaemon (KCL 3.x, from amazon-kclpy).

The daemon owns leases, polling, load balancing and checkpoints (DynamoDB)
and starts one processor process per shard it holds (see ``processor.py``).

Two facts about KCL 3.1.3's MultiLangDaemon that shape this module:

- it builds its Kinesis client for HTTP/2 whatever the retrieval mode
  (``KinesisClientUtil.adjustKinesisClientBuilder``), so over plain ``http://``
  it speaks h2c with prior knowledge.  kinesis-mock's plain port accepts that;
  kinesalite (HTTP/1.1 only) does not ("First received frame was not
  SETTINGS");
- it splits ``executableName`` on spaces and quotes nothing.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Mapping

log = logging.getLogger("shardline.kcl")

MULTILANG_DAEMON_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST")
RETRIEVAL_MODES = ("POLLING", "FANOUT")
METRICS_LEVELS = ("NONE", "SUMMARY", "DETAILED")
WORKER_ID_VARIABLE = "SHARDLINE_KCL_WORKER_ID"
STREAM_VARIABLE = "SHARDLINE_KCL_STREAM"
"""Both set for the daemon and so inherited by its processors: the protocol tells them their shard only."""
FAST_START_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""For short-lived local daemons (tests, demos): JVM start to scheduler start in about 2 s instead of 4 s on
2 busy cores.  C1-only code is slower in the long run, so deployed daemons keep the JVM's defaults."""
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF")


class KclError(RuntimeError):
    """The KCL daemon cannot be configured or started; the message says what to change."""


def _env(name: str) -> Callable[[], str | None]:
    return lambda: os.environ.get(name) or None


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@dataclass(frozen=True)
class KclConfig:
    """One MultiLangDaemon worker.  Every default is here; environment is read when the object is built."""

    stream_name: str
    """Kinesis stream to consume."""
    application_name: str
    """KCL application: names the lease table and its ``-CoordinatorState``/``-WorkerMetricStats`` tables."""
    executable: tuple[str, ...]
    """Processor command the daemon starts per shard, e.g. ``python_processor("jobs.kcl.consume_to_file")``."""
    initial_position_in_stream: str = "TRIM_HORIZON"
    """Where a shard without a checkpoint starts: TRIM_HORIZON (oldest record) or LATEST."""
    retrieval_mode: str = "POLLING"
    """POLLING (GetRecords, works on both emulators) or FANOUT (enhanced fan-out: SubscribeToShard over HTTP/2,
    which kinesis-mock serves too; kinesalite has no EFO)."""
    region: str = field(default_factory=_region)
    """AWS region; from AWS_REGION / AWS_DEFAULT_REGION, else us-east-1."""
    kinesis_endpoint: str | None = field(default_factory=_env("AWS_ENDPOINT_URL_KINESIS"))
    """Kinesis endpoint override; from AWS_ENDPOINT_URL_KINESIS.  None: the real service."""
    dynamodb_endpoint: str | None = field(default_factory=_env("AWS_ENDPOINT_URL_DYNAMODB"))
    """DynamoDB endpoint override; from AWS_ENDPOINT_URL_DYNAMODB.  None: the real service."""
    metrics_level: str | None = None
    """KCL CloudWatch metrics; None: NONE when an endpoint is overridden (no CloudWatch locally), else DETAILED."""
    idle_time_between_reads_ms: int = 1000
    """Pause between GetRecords calls per shard (KCL minimum 200; a shard allows 5 reads/s shared by consumers)."""
    max_records: int = 10_000
    """Records per GetRecords call (the service maximum)."""
    failover_time_ms: int = 10_000
    """A lease not renewed for this long is expired and taken over by another worker."""
    lease_assignment_interval_ms: int | None = None
    """How often the leader assigns leases; None: the KCL default, 2 x failover_time_ms."""
    worker_metrics_reporter_interval_ms: int = 30_000
    """How often a worker reports its WorkerMetricStats (KCL 3.x load balancing reads them)."""
    graceful_lease_handoff_timeout_ms: int = 30_000
    """How long a worker giving a lease away waits for its processor to checkpoint first."""
    shutdown_grace_ms: int = 10_000
    """On SIGTERM, how long the daemon waits for processors to checkpoint (shutdown_requested) before it exits.
    The KCL's own default is 0: no final checkpoint at all."""
    shard_sync_interval_ms: int = 60_000
    """How often the leader lists shards to create leases for new (resharded) shards."""
    parent_shard_poll_interval_ms: int = 10_000
    """How often a child shard's processor checks that its parents are drained."""
    worker_id: str | None = None
    """Unique per worker of one application; None: the daemon makes one up."""
    max_leases_per_worker: int | None = None
    """Cap on shards one worker holds; None: no cap (the KCL default)."""
    max_active_threads: int = 0
    """Daemon threads for processors; 0: an unbounded cached pool (one per shard held)."""
    credentials_provider: str = "DefaultCredentialsProvider"
    """AWS SDK v2 credentials provider class name (the default chain reads AWS_ACCESS_KEY_ID etc.)."""
    processing_language: str = f"python/{sys.version_info.major}.{sys.version_info.minor}"
    """Appended to the daemon's user agent only."""
    log_level: str = "INFO"
    """The daemon's (logback) log level; it logs to stderr."""
    java: str = field(default_factory=_java)
    """The java launcher (Java 11+); from JAVA_HOME, else ``java`` on PATH."""
    jvm_options: tuple[str, ...] = ()
    """Extra JVM flags, e.g. ``-Xmx512m``, or FAST_START_JVM_OPTIONS for short local runs."""
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    """Any other MultiLangDaemon property, written verbatim (wins over the fields above)."""

    def __post_init__(self) -> None:
        if self.initial_position_in_stream not in INITIAL_POSITIONS:
            raise KclError(f"initial_position_in_stream must be one of {INITIAL_POSITIONS}, "
                           f"not {self.initial_position_in_stream!r}")
        if self.retrieval_mode not in RETRIEVAL_MODES:
            raise KclError(f"retrieval_mode must be one of {RETRIEVAL_MODES}, not {self.retrieval_mode!r}")
        if self.metrics_level is None:
            object.__setattr__(self, "metrics_level", "NONE" if self.endpoints_overridden else "DETAILED")
        if self.metrics_level not in METRICS_LEVELS:
            raise KclError(f"metrics_level must be one of {METRICS_LEVELS}, not {self.metrics_level!r}")
        if not self.executable:
            raise KclError("executable is empty: give the processor command, e.g. "
                           "python_processor('jobs.kcl.consume_to_file')")
        # The daemon splits executableName on spaces (String.split(" +")) and quotes nothing.
        spaced = [part for part in self.executable if not part or re.search(r"\s", part)]
        if spaced:
            raise KclError(f"the MultiLangDaemon splits executableName on spaces, so no part of the processor "
                           f"command may contain one: {spaced!r}; move the file to a path without spaces")
        if self.log_level not in LOG_LEVELS:
            raise KclError(f"log_level must be one of {LOG_LEVELS}, not {self.log_level!r}")
        if self.idle_time_between_reads_ms < 200:
            raise KclError("idle_time_between_reads_ms must be at least 200 (the KCL's minimum)")

    @property
    def endpoints_overridden(self) -> bool:
        return bool(self.kinesis_endpoint or self.dynamodb_endpoint)

    def properties(self) -> dict[str, str]:
        """The MultiLangDaemon properties, by their KCL 3.x names."""
        props = {
            "executableName": " ".join(self.executable),
            "streamName": self.stream_name,
            "applicationName": self.application_name,
            "AwsCredentialsProvider": self.credentials_provider,
            "processingLanguage": self.processing_language,
            "initialPositionInStream": self.initial_position_in_stream,
            "regionName": self.region,
            "retrievalMode": self.retrieval_mode,
            "metricsLevel": str(self.metrics_level),
            "idleTimeBetweenReadsInMillis": str(self.idle_time_between_reads_ms),
            "maxRecords": str(self.max_records),
            "failoverTimeMillis": str(self.failover_time_ms),
            "workerMetricsReporterFreqInMillis": str(self.worker_metrics_reporter_interval_ms),
            "gracefulLeaseHandoffTimeoutMillis": str(self.graceful_lease_handoff_timeout_ms),
            "shutdownGraceMillis": str(self.shutdown_grace_ms),
            "shardSyncIntervalMillis": str(self.shard_sync_interval_ms),
            "parentShardPollIntervalMillis": str(self.parent_shard_poll_interval_ms),
            "maxActiveThreads": str(self.max_active_threads),
        }
        optional = {
            "kinesisEndpoint": self.kinesis_endpoint,
            "dynamoDBEndpoint": self.dynamodb_endpoint,
            "workerId": self.worker_id,
            "maxLeasesForWorker": self.max_leases_per_worker,
            "leaseAssignmentIntervalMillis": self.lease_assignment_interval_ms,
        }
        props.update({key: str(value) for key, value in optional.items() if value is not None})
        props.update({key: str(value) for key, value in self.extra_properties.items()})
        return props


def python_processor(module: str, *args: str) -> tuple[str, ...]:
    """The command that runs processor ``module`` (``python -m module``) with this interpreter."""
    return (sys.executable, "-m", module, *args)


def kclpy_jars_dir() -> Path:
    """The folder of KCL jars that amazon-kclpy ships."""
    try:
        import amazon_kclpy
    except ImportError:
        raise KclError("amazon-kclpy is not installed: pip install 'shardline[kcl]'") from None
    jars = Path(amazon_kclpy.__file__).parent / "jars"
    if not any(jars.glob("amazon-kinesis-client-multilang-*.jar")):
        raise KclError(f"no KCL multilang jar in {jars}; reinstall amazon-kclpy so its install downloads the jars")
    return jars


def _escape(value: str) -> str:
    # java.util.Properties reads a backslash as an escape and ends the value at a line break.
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def write_properties(config: KclConfig, path: str | Path) -> Path:
    """Write the daemon's .properties file; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by shardline (connectors.kcl.write_properties); edit KclConfig instead."]
    lines += [f"{key} = {_escape(value)}" for key, value in config.properties().items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_LOGBACK = """<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%d{{HH:mm:ss.SSS}} %-5level %logger{{36}} [%mdc{{ShardId:-NONE}}] - %msg%n</pattern></encoder>
  </appender>
  <root level="{level}"><appender-ref ref="STDERR"/></root>
</configuration>
"""


def write_logback(path: str | Path, level: str = "INFO") -> Path:
    """A logback configuration that sends the daemon's log to stderr (stdout carries nothing of ours)."""
    path = Path(path)
    path.write_text(_LOGBACK.format(level=level), encoding="utf-8")
    return path


def daemon_command(properties_path: str | Path, config: KclConfig, *,
                   log_configuration: str | Path | None = None) -> list[str]:
    """The ``java ... MultiLangDaemon --properties-file ...`` command line."""
    properties_path = Path(properties_path).resolve()
    classpath = os.pathsep.join([str(kclpy_jars_dir() / "*"), str(properties_path.parent)])
    command = [config.java, *config.jvm_options]
    if config.endpoints_overridden:
        # The AWS SDK for Java v2 speaks CBOR to Kinesis by default.  Against the emulators the daemon keeps to
        # JSON: its runs on kinesis-mock were never tried on CBOR (the Flink jobs speak CBOR to both).
        command.append("-Daws.cborEnabled=false")
    command += ["-cp", classpath, MULTILANG_DAEMON_CLASS, "--properties-file", str(properties_path)]
    if log_configuration is not None:
        command += ["--log-configuration", str(Path(log_configuration).resolve())]
    return command


def daemon_environment(config: KclConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment (its processors inherit it)."""
    env = dict(os.environ if base is None else base)
    if config.endpoints_overridden:
        env["CBOR_ENABLED"] = "false"
    env[STREAM_VARIABLE] = config.stream_name
    if config.worker_id:
        env[WORKER_ID_VARIABLE] = config.worker_id
    return env


class DaemonProcess:
    """A running MultiLangDaemon in its own process group (the group includes its processors)."""

    def __init__(self, popen: subprocess.Popen, config: KclConfig, log_path: Path | None) -> None:
        self.popen = popen
        self.config = config
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the daemon and its processors at once: a crash, no checkpoint, no lease release."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout_s: float | None = None) -> int:
        """SIGTERM: the daemon asks each processor to checkpoint (shutdown_requested) and releases its leases."""
        if timeout_s is None:
            timeout_s = self.config.shutdown_grace_ms / 1000 + 10
        if self.running():
            # The JVM's shutdown hook runs the graceful shutdown; its processors get shutdown_requested.
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("event=kcl_daemon_kill reason=stop_timeout worker=%s", self.config.worker_id)
        # Whatever is left of the group (a hung JVM, a processor that ignored its closed stdin) is killed.
        self.kill()
        return self.popen.returncode

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "DaemonProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_daemon(config: KclConfig, workdir: str | Path, *, log_path: str | Path | None = None,
               env: Mapping[str, str] | None = None) -> DaemonProcess:
    """Write the properties and logback files under ``workdir`` and start the daemon.

    The daemon's own log (and its processors' stderr, which it relays) goes to
    ``log_path`` if given, else to our stderr.  ``env`` replaces our
    environment for it (default: ours).  It runs in a new session so that
    ``kill``/``stop`` reach the processors it started, too.
    """
    workdir = Path(workdir)
    name = config.worker_id or config.application_name
    properties = write_properties(config, workdir / f"{name}.properties")
    logback = write_logback(workdir / f"{name}.logback.xml", config.log_level)
    command = daemon_command(properties, config, log_configuration=logback)
    out: IO[bytes] | None = open(log_path, "ab") if log_path is not None else None
    try:
        # fd 2, not sys.stderr: that may be a replacement without a file descriptor (pytest's capture).
        popen = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                                 stdout=out if out is not None else 2, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=daemon_environment(config, env))
    finally:
        if out is not None:
            out.close()
    log.info("event=kcl_daemon_started pid=%d application=%s stream=%s worker=%s",
             popen.pid, config.application_name, config.stream_name, config.worker_id)
    return DaemonProcess(popen, config, Path(log_path) if log_path else None)
