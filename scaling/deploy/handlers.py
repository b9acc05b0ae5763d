"""Lambda handlers for the Step Functions controller in template.yaml, calling the same policy code.

Environment (set by the template): ``APPLICATION_NAME``, ``POLICY`` (the policy document as JSON,
the same format as ``shardline scale --policy``), ``LOCK_TABLE`` (optional DynamoDB lock table).

The state machine carries each handler's result in its state, so every handler sees what came
before: ``decide`` -> ``apply`` -> wait -> ``status`` (until RUNNING) -> cooldown -> ``decide`` ...,
and ``release`` at the end. Waiting happens in Wait states, never inside a Lambda.

Fatal errors (missing permissions, KPU quota) are raised, so the execution fails with the message
as its cause; a conflict is returned as data and the machine re-plans.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from typing import Any

from pipelines.clock import SYSTEM_CLOCK
from scaling.backends.base import ScalingConflict
from scaling.decision import RUNNING, UPDATING, AppState, ScalingDecision
from scaling.spec import PolicySpec, parse_spec
from scaling.wiring import build_backend, build_collector

log = logging.getLogger("shardline.scaling.lambda")
log.setLevel(logging.INFO)

WAIT_STATUSES = frozenset({UPDATING, "AUTOSCALING", "STARTING", "ROLLING_BACK", "MAINTENANCE"})
"""Statuses the application leaves on its own: the machine waits and asks again."""


def _clients() -> dict[str, Any] | None:
    """AWS clients to use instead of building them from the environment (tests replace this)."""
    return None


def _spec() -> PolicySpec:
    return parse_spec(json.loads(os.environ["POLICY"]), "POLICY")


def _app(event: dict) -> str:
    return event.get("application") or os.environ["APPLICATION_NAME"]


def _lock(spec: PolicySpec):
    from scaling.locks import DynamoDBLock

    table = os.environ.get("LOCK_TABLE")
    return DynamoDBLock(table, lease_s=spec.controller_spec().lock.lease_s) if table else None


def decide(event: dict, context: Any = None) -> dict:
    """Take the lock, describe, collect, decide: {action: scale | keep | wait | locked, decision, state}."""
    return asyncio.run(_decide(event))


async def _decide(event: dict) -> dict:
    spec, app = _spec(), _app(event)
    owner = event.get("execution", "lambda")
    lock = _lock(spec)
    if lock is not None and not await lock.acquire(app, owner):
        return {"action": "locked", "detail": "another execution is sizing this application"}
    backend = build_backend(spec, app, clients=_clients())
    state = await backend.describe()
    last = event.get("apply", {}).get("requested_at")
    if last is not None:  # a rescale this execution started: newer than LastUpdateTimestamp can say
        state = dataclasses.replace(state, last_rescale_at=max(last, state.last_rescale_at or 0.0))
    if state.status in WAIT_STATUSES:
        return {"action": "wait", "status": state.status, "state": dataclasses.asdict(state)}
    now = SYSTEM_CLOCK.time()
    history = await build_collector(spec, app, clients=_clients()).collect(now)
    decision = spec.build_policy().decide(state, history, now)
    action = "scale" if decision.changed and state.status == RUNNING else "keep"
    log.info(json.dumps({"event": "decision", "app": app, "action": action, **decision.to_dict()}, default=str))
    return {"action": action, "status": state.status, "state": dataclasses.asdict(state),
            "version": getattr(backend, "version_id", None),  # apply updates this version or fails: optimistic
            "arn": getattr(backend, "arn", None),
            "decision": json.loads(json.dumps(decision.to_dict(), default=str))}


def apply(event: dict, context: Any = None) -> dict:
    """Start the rescale the ``decide`` step chose: {started, parallelism, requested_at} or {action: conflict}."""
    return asyncio.run(_apply(event))


async def _apply(event: dict) -> dict:
    spec, app = _spec(), _app(event)
    chosen = event["decide"]
    d = chosen["decision"]
    decision = ScalingDecision(current=d["current"], target=d["target"], reason=d["reason"], inputs=d.get("inputs", {}),
                               parallelism=d.get("parallelism"), current_parallelism=d.get("current_parallelism"))
    backend = build_backend(spec, app, clients=_clients())
    if chosen.get("version") is not None:
        backend.version_id = chosen["version"]  # the version the decision saw, not a fresh one
        backend.arn = chosen.get("arn")
    try:
        result = await backend.apply(decision, AppState(**chosen["state"]))
    except ScalingConflict as exc:
        return {"started": False, "action": "conflict", "detail": str(exc)}
    log.info(json.dumps({"event": "apply", "app": app, "started": result.started, "parallelism": result.parallelism}))
    return {"started": result.started, "action": "started" if result.started else "none",
            "parallelism": result.parallelism, "requested_at": SYSTEM_CLOCK.time(), "detail": result.detail}


def status(event: dict, context: Any = None) -> dict:
    """{status, running, parallelism, rolled_back}: running is RUNNING at the requested parallelism."""
    return asyncio.run(_status(event))


async def _status(event: dict) -> dict:
    state = await build_backend(_spec(), _app(event), clients=_clients()).describe()
    wanted = event.get("apply", {}).get("parallelism")
    at_target = wanted is None or state.current_parallelism == wanted
    return {"status": state.status, "parallelism": state.current_parallelism,
            "running": state.status == RUNNING and at_target,
            "rolled_back": state.status == RUNNING and not at_target, "wait": state.status in WAIT_STATUSES}


def release(event: dict, context: Any = None) -> dict:
    """Give the application's lock back (at the end of every execution, failed ones included)."""
    spec = _spec()
    lock = _lock(spec)
    if lock is not None:
        asyncio.run(lock.release(_app(event), event.get("execution", "lambda")))
    return {"released": lock is not None}
