"""A small client for the Flink REST API (the endpoints the autoscaler needs, Flink 1.18+ and 2.x).

Hand-written over urllib: the API is a handful of JSON calls and no maintained Python client
covers ``/jobs/<id>/resource-requirements``; a dependency would buy nothing here.
Calls are blocking; async callers run them with ``asyncio.to_thread``.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterable

from scaling.errors import FlinkRestError

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
TERMINAL_STATES = frozenset({"FAILED", "CANCELED", "FINISHED", "SUSPENDED"})


class FlinkRestClient:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    # --- transport -----------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             content_type: str = "application/json") -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                errors = json.loads(detail).get("errors", [detail])
            except ValueError:
                errors = [detail]
            # Flink puts a Java stack trace in errors: keep its first line and the root cause
            lines = "\n".join(str(e) for e in errors).strip().splitlines()
            causes = [line.strip() for line in lines if line.strip().startswith("Caused by:")]
            message = (lines[0] if lines else str(exc.reason)) + (f" ({causes[-1]})" if causes else "")
            raise FlinkRestError(f"{method} {path}: HTTP {exc.code}: {message}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FlinkRestError(f"cannot reach the Flink REST API at {self.url}: {reason}") from None
        return json.loads(payload) if payload else None

    # --- jobs ----------------------------------------------------------------
    def jobs_overview(self) -> list[dict]:
        return self.call("GET", "/jobs/overview")["jobs"]

    def resolve_job(self, job: str) -> str:
        """A job id, or the id of the newest job with that name that is not finished."""
        if JOB_ID.match(job):
            return job
        live = [j for j in self.jobs_overview() if j["name"] == job and j["state"] not in TERMINAL_STATES]
        if not live:
            raise FlinkRestError(f"no running Flink job named {job!r} at {self.url}", 404)
        return max(live, key=lambda j: j.get("start-time", 0))["jid"]

    def job(self, job_id: str) -> dict:
        return self.call("GET", f"/jobs/{job_id}")

    def source_vertices(self, job: dict) -> set[str]:
        """Vertices with no inputs in the job's plan."""
        nodes = job.get("plan", {}).get("nodes", [])
        return {n["id"] for n in nodes if not n.get("inputs")}

    def subtask_metric_names(self, job_id: str, vertex_id: str) -> list[str]:
        return [m["id"] for m in self.call("GET", f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics")]

    def subtask_metrics(self, job_id: str, vertex_id: str, names: Iterable[str], agg: str = "sum") -> dict[str, float]:
        """``{name: aggregate over subtasks}``; names the vertex does not report are left out."""
        names = list(names)
        if not names:
            return {}
        query = urllib.parse.urlencode({"get": ",".join(names), "agg": agg})
        rows = self.call("GET", f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics?{query}")
        return {r["id"]: float(r[agg]) for r in rows if r.get(agg) is not None}

    # --- rescaling -----------------------------------------------------------
    def resource_requirements(self, job_id: str) -> dict:
        return self.call("GET", f"/jobs/{job_id}/resource-requirements")

    def set_resource_requirements(self, job_id: str, requirements: dict) -> None:
        self.call("PUT", f"/jobs/{job_id}/resource-requirements", requirements)

    def stop_with_savepoint(self, job_id: str, target_directory: str | None) -> str:
        body: dict[str, Any] = {"drain": False}
        if target_directory:
            body["targetDirectory"] = target_directory
        return self.call("POST", f"/jobs/{job_id}/stop", body)["request-id"]

    def savepoint_status(self, job_id: str, trigger_id: str) -> dict:
        return self.call("GET", f"/jobs/{job_id}/savepoints/{trigger_id}")

    def upload_jar(self, path: Path) -> str:
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="jarfile"; filename="{Path(path).name}"\r\n'
                "Content-Type: application/x-java-archive\r\n\r\n").encode()
        body = head + Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        reply = self.call("POST", "/jars/upload", raw=body, content_type=f"multipart/form-data; boundary={boundary}")
        return reply["filename"].rsplit("/", 1)[-1]

    def run_jar(self, jar_id: str, *, entry_class: str | None, args: Iterable[str], parallelism: int,
                savepoint_path: str | None = None) -> str:
        body: dict[str, Any] = {"programArgsList": list(args), "parallelism": parallelism}
        if entry_class:
            body["entryClass"] = entry_class
        if savepoint_path:
            body["savepointPath"] = savepoint_path
            body["allowNonRestoredState"] = False  # a savepoint that does not fit the job is an error, not a reset
        return self.call("POST", f"/jars/{jar_id}/run", body)["jobid"]
