"""PyFlink plumbing: the connector jar, the execution environment, Kinesis source and sink.

PyPI's pyflink has no Python wrapper for a Flink 2.x Kinesis connector, so the
Java source and sink are built through the py4j gateway and wrapped as PyFlink
``Source``/``Sink``.  The Java side is shardline's own FLIP-27 connector in
``connectors/flink_java`` (option keys follow the official
flink-connector-aws-kinesis-streams): the official 6.x jar is not served by
every Maven mirror, has no bounded read (which tests, demos and replays
need), and no converter for ``(partition key, bytes)`` pairs.

Records leave the source as raw bytes (KPL aggregates already split) and
enter the sink as ``(partition_key, data)`` tuples:

    env = stream_environment(FlinkConfig())
    records = kinesis_source(env, "orders", initial_position="TRIM_HORIZON")
    records.map(lambda data: (key_of(data), data), output_type=KEYED_BYTES).sink_to(kinesis_sink("orders-out"))

Managed Flink runtime properties come from ``application_properties()``.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from connectors.aws import DEFAULT_REGION
from connectors.paths import is_checkout, state_dir

log = logging.getLogger("shardline.flink")

JAVA_PROJECT = Path(__file__).resolve().parent / "flink_java"
MANAGED_FLINK_PROPERTIES = Path("/etc/flink/application_properties.json")
OFFICIAL_JAR_PREFIX = "flink-sql-connector-aws-kinesis-streams-"
JAR_NAME = "shardline-flink-kinesis"
JAVA_PACKAGE = "dev.shardline.flink.kinesis"
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


class FlinkSetupError(RuntimeError):
    """The Flink side cannot be set up (no Maven/JDK, build failed, bad properties); says what to do."""


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass(frozen=True)
class FlinkConfig:
    """How a PyFlink job is set up.  Environment variables are read when the object is built."""

    parallelism: int = 1
    """Default operator parallelism (1 KPU runs 1 parallel slot on Managed Flink)."""
    checkpoint_interval_ms: int = 10_000
    """Checkpoint every this many ms; 0 turns checkpointing off."""
    checkpoint_dir: Path = field(default_factory=lambda: state_dir() / "flink" / "checkpoints")
    """Local checkpoint storage, ``<state>/flink/checkpoints`` (connectors.paths; ignored on Managed Flink)."""
    jar_dir: Path = field(default_factory=lambda: state_dir() / "jars")
    """Where the connector jar is looked for and built to, ``<state>/jars`` (``make setup`` fills it)."""
    python_executable: str = field(default_factory=lambda: sys.executable)
    """Interpreter of the Python workers: the one running the job, so the venv's packages are there."""
    region: str | None = field(default_factory=lambda: _env("AWS_REGION") or _env("AWS_DEFAULT_REGION"))
    """AWS region for the Java clients; the SDK default chain when None."""
    kinesis_endpoint: str | None = field(
        default_factory=lambda: _env("AWS_ENDPOINT_URL_KINESIS") or _env("AWS_ENDPOINT_URL"))
    """Kinesis endpoint override (AWS_ENDPOINT_URL_KINESIS); set for the local emulators."""
    access_key_id: str | None = field(default_factory=lambda: _env("AWS_ACCESS_KEY_ID"))
    """Passed to the JVM only with an endpoint override (local stacks); on AWS the SDK chain is used."""
    secret_access_key: str | None = field(default_factory=lambda: _env("AWS_SECRET_ACCESS_KEY"))
    """As ``access_key_id``."""
    managed: bool = field(default_factory=lambda: MANAGED_FLINK_PROPERTIES.exists())
    """Running on Managed Flink: jars, interpreter and checkpoints come from the service."""
    submitted: bool = field(default_factory=lambda: "PYFLINK_GATEWAY_PORT" in os.environ)
    """Started by ``flink run -py`` (its JVM is the gateway): the connector jar comes with ``--jarfile``, as
    the zip's ``jarfile`` does on Managed Flink; loading ours too would register each factory twice."""
    kinesis_cbor: bool = field(default_factory=lambda: _env("SHARDLINE_KINESIS_CBOR") != "false")
    """The Java clients speak CBOR to Kinesis, as the SDK does on AWS; kinesalite and kinesis-mock speak it too.
    ``SHARDLINE_KINESIS_CBOR=false``: JSON, for an emulator that speaks nothing else."""
    rest_port: int | None = field(default_factory=lambda: int(_env("SHARDLINE_FLINK_REST_PORT") or 0) or None)
    """Local runs: serve Flink's REST API on this port (``SHARDLINE_FLINK_REST_PORT``), its metrics a second fresh,
    so a benchmark can read how far a job has got; unset, the local cluster picks a port.  Managed Flink
    serves its own."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """Any other Flink configuration keys, passed through as strings."""

    def aws_properties(self) -> dict[str, str]:
        """The ``aws.*`` keys the Java source and sink read (names as in the official connector)."""
        props = {"aws.region": self.region or DEFAULT_REGION}
        if not self.kinesis_cbor:
            props["aws.cbor.enabled"] = "false"
        if self.kinesis_endpoint:
            props["aws.endpoint"] = self.kinesis_endpoint
            if self.access_key_id and self.secret_access_key:
                # The JVM may have started before the environment changed: pass the local keys explicitly.
                props["aws.credentials.provider"] = "BASIC"
                props["aws.credentials.provider.basic.accesskeyid"] = self.access_key_id
                props["aws.credentials.provider.basic.secretkey"] = self.secret_access_key
        return props


# --- the connector jar -------------------------------------------------------

def _project_version() -> str:
    match = re.search(r"<artifactId>shardline-flink-kinesis</artifactId>\s*<version>([^<]+)</version>",
                      (JAVA_PROJECT / "pom.xml").read_text())
    if not match:
        raise FlinkSetupError(f"cannot find the project version in {JAVA_PROJECT / 'pom.xml'}")
    return match.group(1)


def connector_jar_path(jar_dir: Path | None = None) -> Path:
    return (jar_dir or FlinkConfig().jar_dir) / f"{JAR_NAME}-{_project_version()}.jar"


def official_connector_jar(jar_dir: Path | None = None) -> Path | None:
    """The official SQL fat jar if ``make setup`` could download it (for Table API / SQL jobs)."""
    found = sorted((jar_dir or FlinkConfig().jar_dir).glob(f"{OFFICIAL_JAR_PREFIX}*.jar"))
    return found[-1] if found else None


def _sources_mtime() -> float:
    files = [JAVA_PROJECT / "pom.xml", *(JAVA_PROJECT / "src").rglob("*")]
    return max(f.stat().st_mtime for f in files if f.is_file())


def _build_project() -> Path:
    """Where Maven builds: the sources themselves in a checkout; a copy under the state folder when installed."""
    if is_checkout():
        return JAVA_PROJECT
    copy = state_dir() / "build" / "flink_java"
    shutil.copytree(JAVA_PROJECT, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target"))
    return copy


def build_connector_jar(jar_dir: Path | None = None, force: bool = False) -> Path:
    """Build shardline's connector with Maven if the jar is missing or older than its sources.

    Maven runs offline first (warm ~/.m2: no network), online only if that fails, and always
    with ``--strict-checksums``.  A file lock keeps parallel callers from building twice.
    """
    target = connector_jar_path(jar_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and target.exists() and target.stat().st_mtime >= _sources_mtime():
            return target
        mvn = shutil.which("mvn")
        if mvn is None or shutil.which("java") is None:
            raise FlinkSetupError("building the Flink Kinesis connector needs Maven 3.8+ and JDK 17 "
                                  "(apt-get install maven openjdk-17-jdk-headless), then `make setup`")
        command = [mvn, "-q", "-B", "--strict-checksums", "package"]
        project = _build_project()
        log.info("event=connector_build_start project=%s", project)
        result = subprocess.run([*command[:-1], "-o", "package"], cwd=project, capture_output=True, text=True)
        if result.returncode != 0:
            result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
            raise FlinkSetupError(f"`{' '.join(command)}` failed in {project}:\n{tail}")
        built = project / "target" / target.name
        partial = target.with_suffix(".part")
        shutil.copy2(built, partial)
        partial.replace(target)
        os.utime(target)  # newer than every source, so the next call skips the build
        log.info("event=connector_build_done jar=%s bytes=%d", target, target.stat().st_size)
        return target


def connector_jars(config: FlinkConfig | None = None) -> list[Path]:
    """The jar(s) a job loads: shardline's connector (built if missing or stale).

    The official SQL fat jar, when ``make setup`` could fetch it, is added too: it relocates its
    AWS SDK, so both coexist, and Table API / SQL jobs can use its ``kinesis`` connector.
    """
    config = config or FlinkConfig()
    jars = [build_connector_jar(config.jar_dir)]
    official = official_connector_jar(config.jar_dir)
    if official is not None:
        jars.append(official)
    return jars


# --- the environment ---------------------------------------------------------

MANAGED_ALLOWED_KEYS = frozenset({"python.execution-mode", "pipeline.name", "pipeline.object-reuse"})
"""Keys application code may set on Managed Flink 2.2+ that we use (the service's "programmatic Flink
configuration properties"): it throws on any other key, ``parallelism.default``, ``execution.checkpointing.*``
and ``python.fn-execution.*`` among them; parallelism and checkpointing come from the application's own
configuration there."""


def environment_settings(config: FlinkConfig) -> dict[str, str]:
    """The configuration keys ``stream_environment`` sets: everything locally, only allowed keys when managed."""
    if config.managed:
        left = sorted(set(config.extra) - MANAGED_ALLOWED_KEYS)
        if left:
            log.info("event=flink_settings_left_to_the_service keys=%s", ",".join(left))
        return {key: str(value) for key, value in config.extra.items() if key in MANAGED_ALLOWED_KEYS}
    settings = {"parallelism.default": str(config.parallelism), "python.executable": config.python_executable,
                "python.client.executable": config.python_executable}
    if config.extra.get("python.execution-mode") == "thread":
        # The interpreter embedded in the JVM (pemja) starts from the base installation's paths, not this
        # virtual environment's: give it ours, where pemja, shardline and the pipelines' packages are.
        settings["python.pythonpath"] = os.pathsep.join(path for path in sys.path if path)
    if config.rest_port:
        settings["rest.bind-port"] = str(config.rest_port)
        settings["metrics.fetcher.update-interval"] = "1 s"  # 10 s by default
    if config.checkpoint_interval_ms > 0:
        settings["execution.checkpointing.interval"] = f"{config.checkpoint_interval_ms} ms"
        settings["execution.checkpointing.storage"] = "filesystem"
        settings["execution.checkpointing.dir"] = config.checkpoint_dir.resolve().as_uri()
    return {**settings, **{key: str(value) for key, value in config.extra.items()}}


def stream_environment(config: FlinkConfig | None = None):
    """A StreamExecutionEnvironment with the connector jar loaded and checkpointing set up (locally)."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.util.java_utils import add_jars_to_context_class_loader

    config = config or FlinkConfig()
    conf = Configuration()
    jar_urls: list[str] = []
    if not (config.managed or config.submitted):
        # On Managed Flink the service adds lib/<jar> (jarfile property) and runs its own interpreter.
        jar_urls = [jar.resolve().as_uri() for jar in connector_jars(config)]
        conf.set_string("pipeline.jars", ";".join(jar_urls))
    if not config.managed and config.checkpoint_interval_ms > 0:
        config.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for key, value in environment_settings(config).items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    if jar_urls:
        # The gateway JVM must see the classes too, to build the source and sink objects.
        add_jars_to_context_class_loader(jar_urls)
    return env


def _java_configuration(values: Mapping[str, str]):
    from pyflink.java_gateway import get_gateway

    j_conf = get_gateway().jvm.org.apache.flink.configuration.Configuration()
    for key, value in values.items():
        j_conf.setString(key, str(value))
    return j_conf


def kinesis_source(env, stream: str, *, initial_position: str = "TRIM_HORIZON",
                   at_timestamp: float | None = None, bounded: bool = False,
                   config: FlinkConfig | None = None, properties: Mapping[str, str] | None = None,
                   name: str | None = None, positioned: bool = False):
    """A DataStream of the raw bytes of every user record on ``stream`` (a name or an ARN).

    ``bounded`` reads each shard until a read finds it caught up, then the stream ends (tests,
    demos, replays).  ``properties`` adds or overrides ``source.*``/``aws.*`` keys.  ``positioned`` gives
    ``(shard id, sequence number, sub-sequence number, bytes)`` tuples instead of the bytes alone.
    """
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.datastream.connectors import Source
    from pyflink.java_gateway import get_gateway

    if initial_position not in INITIAL_POSITIONS:
        raise ValueError(f"initial_position must be one of {INITIAL_POSITIONS}, got {initial_position!r}")
    if initial_position == "AT_TIMESTAMP" and at_timestamp is None:
        raise ValueError("initial_position AT_TIMESTAMP needs at_timestamp (epoch seconds)")
    config = config or FlinkConfig()
    values = {**config.aws_properties(), "source.init.position": initial_position,
              "source.bounded": str(bounded).lower()}
    if at_timestamp is not None:
        values["source.init.timestamp"] = repr(float(at_timestamp))
    values.update(properties or {})
    package = getattr(get_gateway().jvm, JAVA_PACKAGE)
    builder = package.KinesisStreamsSource.builder()
    type_info = Types.PRIMITIVE_ARRAY(Types.BYTE())
    if positioned:
        builder = builder.setDeserializer(package.KinesisRecordDeserializer.positioned())
        type_info = Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG(), type_info])
    builder = builder.setStreamArn(stream) if stream.startswith("arn:") else builder.setStreamName(stream)
    j_source = builder.setSourceConfig(_java_configuration(values)).build()
    return env.from_source(Source(j_source), WatermarkStrategy.no_watermarks(), name or f"kinesis:{stream}",
                           type_info=type_info)


TABLE_CONNECTOR = "shardline-kinesis"
"""Our table connector's identifier; the official jar's is ``kinesis``, with the same options."""
_TABLE_KEY_NAMES = {"aws.credentials.provider.basic.accesskeyid": "aws.credentials.basic.accesskeyid",
                    "aws.credentials.provider.basic.secretkey": "aws.credentials.basic.secretkey"}


def kinesis_table_options(stream: str, *, config: FlinkConfig | None = None, **options: str) -> dict[str, str]:
    """The WITH options of a Kinesis table on ``stream``: connector, stream and the ``aws.*`` keys for where
    this process points (the table connector's names), then ``options`` (format, source.*, sink.*)."""
    aws = (config or FlinkConfig()).aws_properties()
    return {"connector": TABLE_CONNECTOR, "stream.arn": stream,
            **{_TABLE_KEY_NAMES.get(key, key): value for key, value in aws.items()}, **options}


def aws_table_options(service: str) -> dict[str, str]:
    """The ``aws.*`` WITH options of one of our AWS tables: the region, and where this process points
    ``service`` (``AWS_ENDPOINT_URL_<SERVICE>`` locally, with the BASIC keys; the regional endpoint otherwise)."""
    config = FlinkConfig()
    table = {"aws.region": config.region or DEFAULT_REGION}
    endpoint = _env(f"AWS_ENDPOINT_URL_{service.upper()}") or _env("AWS_ENDPOINT_URL")
    if endpoint:
        table["aws.endpoint"] = endpoint
        if config.access_key_id and config.secret_access_key:
            table.update({"aws.credentials.provider": "BASIC",
                          "aws.credentials.basic.accesskeyid": config.access_key_id,
                          "aws.credentials.basic.secretkey": config.secret_access_key})
    return table


def s3_table_options(path: str, **options: str) -> dict[str, str]:
    """The WITH options of a ``shardline-s3`` table writing under ``path`` (s3://bucket/prefix)."""
    return {"connector": "shardline-s3", "path": path, **aws_table_options("s3"), **options}


def firehose_table_options(delivery_stream: str, **options: str) -> dict[str, str]:
    """The WITH options of a ``shardline-firehose`` table writing to ``delivery_stream`` (Direct PUT)."""
    return {"connector": "shardline-firehose", "delivery-stream": delivery_stream, **aws_table_options("firehose"),
            **options}


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def with_clause(options: Mapping[str, str]) -> str:
    """``options`` as the body of a SQL ``WITH (...)``."""
    return ", ".join(f"{sql_string(key)} = {sql_string(value)}" for key, value in options.items())


def table_environment(config: FlinkConfig | None = None):
    """A StreamTableEnvironment over ``stream_environment`` (the connector jar loaded, checkpointing set)."""
    from pyflink.table import StreamTableEnvironment

    return StreamTableEnvironment.create(stream_environment(config))


def keyed_bytes_type():
    """The sink's input type: ``(partition_key, data)`` tuples."""
    from pyflink.common import Types

    return Types.TUPLE([Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())])


def key_by_column(stream, key_type, value_type):
    """A KeyedStream of ``stream``'s ``Row(key, value)`` elements keyed by the key, with Java doing the keying.

    PyFlink's ``key_by`` runs a Python step that computes each element's key and pairs it with the element
    (``Row(key, value)``), and then keys that pair in Java; a stream that already carries its key in that shape
    (a SQL query's first column, a Python operator's output) needs no Python step: this keys it as ``key_by``'s
    second half does, and a keyed Python function downstream sees ``value`` (one hop of the Python worker less a
    record; the event-sourcing job's decode left Python this way).
    """
    from pyflink.common import Types
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway

    j_keyed = stream._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(),
                                          Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, stream)


def side_output(stream, tag):
    """``stream``'s side output ``tag`` as the Python operator wrote it (``tag``'s type), for a Java operator
    (``unbatch``, ``key_by_column``, a sink) to read.

    PyFlink's ``get_side_output`` adds a Python identity ``map`` behind every side output, so each element
    crosses to the Python worker and back once more (the event-sourcing job's derived events: a ninth of its
    Python operator's thread, JFR); the Java operator already emits them in ``tag``'s type.  Read it with an
    operator (not straight into ``execute_and_collect``): PyFlink finds the side outputs a Python operator
    must write by walking back from the environment's operators.
    """
    from pyflink.datastream import DataStream

    return DataStream(stream._j_data_stream.getSideOutput(tag.get_java_output_tag()))


def columns_of(row_type):
    """The type of a batch of ``row_type`` rows in columns: a row of one array a field (``Row(names ARRAY,
    ...)``), what ``batch_by_bucket`` hands a Python function and ``unbatch`` takes back.  Columns, not an array
    of rows: PyFlink builds a Python ``Row`` object for every row it decodes and encodes (2 to 4 us each), while
    an array of strings is a list (``zip(*batch)`` reads it row by row)."""
    from pyflink.common import Types

    return Types.ROW_NAMED(list(row_type.get_field_names()),
                           [Types.OBJECT_ARRAY(field) for field in row_type.get_field_types()])


def batch_by_bucket(stream, value_type, *, buckets: int, max_records: int, max_delay_ms: int):
    """``stream``'s ``Row(key STRING, value)`` elements gathered into batches by the bucket of their key (Java's
    ``BucketBatcher``), keyed by the bucket in Java: a keyed Python function downstream gets a batch of values
    in columns (``columns_of(value_type)``), many records in one element, a key's in their order, and keyed
    state per bucket.

    PyFlink's cost is per element (its harness, each output, each timer), so a batch of records pays it once.
    A bucket's batch leaves when it holds ``max_records``, at the latest ``max_delay_ms`` after its first
    record, and before every checkpoint barrier and watermark (nothing is held across a checkpoint; the final
    watermark of a bounded input comes after its last batch).  Set ``buckets`` to a few times the parallelism:
    each bucket is one key, so fewer buckets make bigger batches and more make the load even across subtasks.
    """
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    batch_type = columns_of(value_type)
    column_types = batch_type.get_java_type_info().getFieldTypes()
    classes = gateway.new_array(gateway.jvm.java.lang.Class, len(column_types))
    for i, column_type in enumerate(column_types):
        classes[i] = column_type.getComponentInfo().getTypeClass()
    batcher = gateway.jvm.dev.shardline.flink.batch.BucketBatcher(buckets, max_records, max_delay_ms, classes)
    batched = stream._j_data_stream.transform("batch-by-bucket", Types.ROW([Types.INT(), batch_type])
                                              .get_java_type_info(), batcher)
    return key_by_column(DataStream(batched), Types.INT(), batch_type)


def envelope_record_type():
    """A record as ``batch_envelopes_by_field`` hands it on (in columns): its payload's JSON as UTF-8 (as
    ``payload_from_json`` reads it), ``error`` saying why it is no envelope, its bytes and its position
    (``kinesis:<stream>/<shard>/<sequence>``) for a dead letter.  The payload crosses as bytes, not a string:
    Java copies a table string's bytes as they are, where a string it decodes to UTF-16 and writes again
    character by character (JFR: a sixteenth of the event-sourcing job's JVM samples, most of it on payloads
    holding a character past Latin-1), and Python reads them as they come."""
    from pyflink.common import Types

    data = Types.PRIMITIVE_ARRAY(Types.BYTE())
    return Types.ROW_NAMED(["payload", "error", "raw", "position"], [data, Types.STRING(), data, Types.STRING()])


def batch_envelopes_by_field(t_env, table: str, field: str, stream: str, *, buckets: int, max_records: int,
                             max_delay_ms: int):
    """``batch_by_bucket`` of the records of ``table`` (a ``shardline-kinesis`` table of ``stream`` in the
    ``shardline-envelope`` format, with its ``error``, ``raw``, ``shard``, ``seq`` and ``sub`` columns), keyed
    by the top-level string field ``field`` of their payload (``''`` without one): batches of
    ``envelope_record_type()`` in columns, keyed by the bucket.

    Java reads the table's own rows (Flink's ``RowData``, no conversion to ``Row``; ``EnvelopeBucketBatcher``):
    the same batches as ``batch_by_bucket`` over a query of the key and ``kinesis_position``, whose Calc copied
    every string it read and whose rows were converted for the batcher (half of the source's thread, JFR).
    """
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    rows = t_env.from_path(table)
    names = list(rows.get_schema().get_field_names())
    fields = gateway.new_array(gateway.jvm.int, 6)
    for i, name in enumerate(("payload", "error", "raw", "shard", "seq", "sub")):
        fields[i] = names.index(name)
    j_table = rows._j_table
    # All of the table's columns in its order: any projection would be a Calc again (the source pushes none).
    row_data = j_table.getResolvedSchema().toSourceRowDataType().bridgedTo(
        gateway.jvm.java.lang.Class.forName("org.apache.flink.table.data.RowData"))
    j_rows = t_env._j_tenv.toDataStream(j_table, row_data)
    batch_type = columns_of(envelope_record_type())
    batcher = gateway.jvm.dev.shardline.flink.batch.EnvelopeBucketBatcher(field, stream, fields, buckets,
                                                                          max_records, max_delay_ms)
    batched = j_rows.transform("batch-by-bucket", Types.ROW([Types.INT(), batch_type]).get_java_type_info(),
                               batcher)
    return key_by_column(DataStream(batched), Types.INT(), batch_type)


def unbatch(stream, row_type):
    """A stream of batches in columns (``columns_of(row_type)``: a Python function's output, one element for
    many rows) as a stream of ``row_type`` rows, in order, with no Python step (Java's ``Unbatch``)."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    return DataStream(stream._j_data_stream.flatMap(get_gateway().jvm.dev.shardline.flink.batch.Unbatch(),
                                                    row_type.get_java_type_info()))


def envelope_row_type():
    """The input type of ``kinesis_sink(envelopes=True)``: a row of envelope columns, the payload JSON text
    (``payload_to_json``), for Java to encode as the ``shardline-envelope`` format does."""
    from pyflink.common import Types

    return Types.ROW_NAMED(["id", "type", "source", "event_time", "partition_key", "schema", "payload"],
                           [Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), Types.STRING(),
                            Types.STRING(), Types.STRING()])


def kinesis_sink(stream: str, *, config: FlinkConfig | None = None,
                 properties: Mapping[str, str] | None = None, fail_on_error: bool = False,
                 exactly_once: bool = False, envelopes: bool = False):
    """A Sink of ``(partition_key, data)`` tuples to ``stream`` via batched PutRecords; with ``envelopes``,
    of ``envelope_row_type`` rows, each encoded in Java (``EnvelopeRowConverter``) as its Avro envelope.

    Entries a PutRecords response marks failed are re-sent (only those); throttling is
    retried; a missing stream or bad credentials fail the job with the cause.
    ``exactly_once`` writes each checkpoint interval's records once that checkpoint
    completes, and after a restore reads the stream back to write only what is missing:
    no duplicates, one checkpoint interval later, and one interval's output held in
    memory per subtask (records that must repeat need different bytes).  It needs
    checkpointing: without it, records are written only when a bounded job ends.
    """
    from pyflink.datastream.connectors import Sink
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    config = config or FlinkConfig()
    j_props = gateway.jvm.java.util.Properties()
    for key, value in {**config.aws_properties(), **(properties or {})}.items():
        j_props.setProperty(key, str(value))
    package = getattr(gateway.jvm, JAVA_PACKAGE)
    builder = (package.exactlyonce.KinesisExactlyOnceSink if exactly_once else package.KinesisStreamsSink).builder()
    builder = builder.setStreamArn(stream) if stream.startswith("arn:") else builder.setStreamName(stream)
    if envelopes:
        builder = builder.setElementConverter(gateway.jvm.dev.shardline.flink.envelope.EnvelopeRowConverter())
    return Sink(builder.setKinesisClientProperties(j_props).setFailOnError(fail_on_error).build())


# --- Managed Flink runtime properties ----------------------------------------

def application_properties(path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Property groups as ``{group id: {key: value}}``.

    Read from ``path``, else ``$SHARDLINE_APPLICATION_PROPERTIES``, else Managed Flink's
    ``/etc/flink/application_properties.json``; ``{}`` when none exists.  The file holds a
    list of ``{"PropertyGroupId": ..., "PropertyMap": {...}}`` as the service writes it.
    """
    if path is None:
        path = _env("SHARDLINE_APPLICATION_PROPERTIES") or (
            MANAGED_FLINK_PROPERTIES if MANAGED_FLINK_PROPERTIES.exists() else None)
        if path is None:
            return {}
    path = Path(path)
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise FlinkSetupError(f"application properties file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise FlinkSetupError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(raw, dict) and "PropertyGroups" in raw:
        raw = raw["PropertyGroups"]  # the shape of the CreateApplication request, accepted too
    if not isinstance(raw, list):
        raise FlinkSetupError(f"{path}: expected a list of property groups "
                              '[{"PropertyGroupId": ..., "PropertyMap": {...}}]')
    groups: dict[str, dict[str, str]] = {}
    for index, group in enumerate(raw):
        if not isinstance(group, dict) or not isinstance(group.get("PropertyGroupId"), str) \
                or not isinstance(group.get("PropertyMap", {}), dict):
            raise FlinkSetupError(f"{path}: property group #{index} needs a string PropertyGroupId "
                                  "and an object PropertyMap")
        groups.setdefault(group["PropertyGroupId"], {}).update(
            {str(k): str(v) for k, v in group.get("PropertyMap", {}).items()})
    return groups
