"""A real Flink standalone cluster (JobManager + one TaskManager) from the apache-flink wheel's own
bin/ scripts, on free loopback ports, with its own conf and log directories (the wheel's are left
untouched), plus the throttled test job's jar. Used by the REST autoscaling end-to-end test and the
PII job's crash-and-restore test (which kills the TaskManager and starts another)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyflink
import yaml

from connectors.flink import build_connector_jar

FLINK_HOME = Path(pyflink.__file__).parent
JOB_SOURCE = Path(__file__).parent / "flink_jobs" / "ThrottledKinesisJob.java"
JOB_CLASS = "dev.shardline.scaling.e2e.ThrottledKinesisJob"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_job_jar(work: Path) -> Path:
    """The throttled job compiled against the wheel's Flink jars, packed with shardline's Kinesis connector."""
    connector = build_connector_jar()
    classes = work / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    classpath = os.pathsep.join([str(FLINK_HOME / "lib" / "*"), str(connector)])
    subprocess.run(["javac", "-d", str(classes), "-cp", classpath, str(JOB_SOURCE)], check=True, capture_output=True)
    jar = work / "throttled-job.jar"
    shutil.copy(connector, jar)
    subprocess.run(["jar", "uf", str(jar), "-C", str(classes), "."], check=True, capture_output=True)
    return jar


class StandaloneFlink:
    def __init__(self, work: Path, slots: int = 4) -> None:
        self.work = work
        self.slots = slots
        self.rest_port = _free_port()
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def _configure(self) -> Path:
        conf = self.work / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        for name in ("log4j-console.properties", "log4j.properties", "logback-console.xml"):
            shutil.copy(FLINK_HOME / "conf" / name, conf / name)
        settings = {
            "jobmanager.rpc.address": "localhost", "jobmanager.rpc.port": _free_port(),
            "jobmanager.bind-host": "localhost", "taskmanager.bind-host": "localhost", "taskmanager.host": "localhost",
            "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1", "rest.port": self.rest_port,
            "jobmanager.scheduler": "adaptive",
            # a rescale the moment resources or requirements change: the test cannot wait Flink's default 30 s+
            "jobmanager.adaptive-scheduler.resource-stabilization-timeout": "1s",
            "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling": "1s",
            "jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout": "1s",
            # small JVMs: the machine has 2 cores and little memory to spare
            "jobmanager.memory.process.size": "700m", "jobmanager.memory.jvm-metaspace.size": "150m",
            "taskmanager.memory.process.size": "900m", "taskmanager.memory.managed.size": "32m",
            "taskmanager.memory.network.min": "32m", "taskmanager.memory.network.max": "32m",
            "taskmanager.memory.jvm-metaspace.size": "192m", "taskmanager.numberOfTaskSlots": self.slots,
            # small network buffers: a few hundred records in flight between vertices, not thousands, so
            # backpressure reaches the source within seconds, as it does for a job that has run for a while
            "taskmanager.memory.segment-size": "4kb", "taskmanager.network.memory.buffers-per-channel": 2,
            "taskmanager.network.memory.floating-buffers-per-gate": 2,
            "execution.checkpointing.interval": "2s",
            "execution.checkpointing.dir": (self.work / "checkpoints").as_uri(),
            "execution.checkpointing.savepoint-dir": (self.work / "savepoints").as_uri(),
            "metrics.fetcher.update-interval": 1000,
            # the wheel's JVM flags (--add-opens ...): Java 17 refuses Flink's reflection without them
            "env.java.opts.all": yaml.safe_load((FLINK_HOME / "conf" / "config.yaml").read_text())["env"]["java"]["opts"]["all"],
        }
        (conf / "config.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        return conf

    @property
    def conf_dir(self) -> Path:
        return self.work / "conf"

    def env(self) -> dict[str, str]:
        """The environment of the cluster's processes and of a ``flink`` CLI that talks to it."""
        return {**os.environ, "FLINK_CONF_DIR": str(self.conf_dir), "FLINK_LOG_DIR": str(self.work / "log")}

    def _start(self, role: str) -> None:
        logs = self.work / "log"
        logs.mkdir(exist_ok=True)
        out = open(logs / f"{role}-{len(self.processes)}.out", "wb")
        self.processes.append(subprocess.Popen([str(FLINK_HOME / "bin" / f"{role}.sh"), "start-foreground"],
                                               env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def kill_taskmanager(self) -> None:
        """SIGKILL the running TaskManager and everything it started (its Python workers): a crash."""
        taskmanager = self.processes.pop()
        os.killpg(taskmanager.pid, signal.SIGKILL)
        taskmanager.wait()

    def start_taskmanager(self) -> None:
        self._start("taskmanager")

    def start(self, timeout_s: float = 90.0) -> "StandaloneFlink":
        self._configure()
        self._start("jobmanager")
        self._start("taskmanager")
        logs = self.work / "log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                break
            try:
                with urllib.request.urlopen(self.url + "/overview", timeout=2) as r:
                    if json.loads(r.read()).get("slots-total") == self.slots:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        tail = (logs / "taskmanager-1.out").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"Flink standalone cluster did not come up; taskmanager.out ends:\n{tail}")

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes.clear()


def rest(cluster: StandaloneFlink, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(cluster.url + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else {}


def wait_until(condition, timeout_s: float, what: str, cluster: StandaloneFlink):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                             for p in sorted((cluster.work / "log").glob("*")) if p.is_file())
            raise AssertionError(f"timed out {what}\n{logs[-12000:]}")
        time.sleep(0.5)


def restored_checkpoint(cluster: StandaloneFlink, job_id: str) -> dict | None:
    """The checkpoint job ``job_id`` was last restored from (REST), or None while it has not failed over."""
    return rest(cluster, f"/jobs/{job_id}/checkpoints")["latest"]["restored"]


def wait_for_restore(cluster: StandaloneFlink, job_id: str, timeout_s: float = 120) -> dict:
    """The checkpoint job ``job_id`` restored after its TaskManager was killed, once it has.  Wait for it before
    reading it: a job slow to start under load can write all its input before the JobManager notices the lost
    TaskManager and fails the job over, so a test that read the checkpoints at once found none restored (CI runs
    failed so twice, in two crash tests)."""
    return wait_until(lambda: restored_checkpoint(cluster, job_id), timeout_s, "for the job to restore a checkpoint",
                      cluster)


def submit(cluster: StandaloneFlink, app: Path, properties: Path, python: str = sys.executable) -> str:
    """``flink run`` a Managed Flink app unpacked at ``app`` (main.py, lib/<the jar>, dep/) with its runtime
    properties, as the service does; the job's id once it runs."""
    result = subprocess.run(
        [str(FLINK_HOME / "bin" / "flink"), "run", "--detached", "-py", "main.py", "-pyfs", "dep",
         "-j", str(next((app / "lib").glob("*.jar"))), "-pyexec", python, "-pyclientexec", python,
         "--properties", str(properties)],
        cwd=app, env=cluster.env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return wait_until(lambda: next((job["id"] for job in rest(cluster, "/jobs")["jobs"] if job["status"] == "RUNNING"),
                                   None), 120, "for the job to run", cluster)
