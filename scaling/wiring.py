"""Turn a validated PolicySpec into a running Controller: clients, collectors, backend, lock, log.

``clients`` maps an AWS service name to a ready client (tests pass Stubber-wrapped or local-stack
clients); anything not given is built by connectors.aws from the environment.
"""
from __future__ import annotations

from typing import Any, Mapping

from prometheus_client import CollectorRegistry

from pipelines.clock import SYSTEM_CLOCK, Clock
from scaling.backends.flink_rest import FlinkRestBackend, FlinkRestBackendConfig
from scaling.collectors.base import CompositeCollector, SignalCollector
from scaling.collectors.cloudwatch import CloudWatchCollector, CloudWatchSignalsConfig
from scaling.collectors.flink_rest import FlinkRestCollector
from scaling.controller import Controller, ControllerConfig
from scaling.decision_log import DecisionLog
from scaling.locks import AppLock, DynamoDBLock, FileLock
from scaling.spec import PolicySpec


def _client(clients: Mapping[str, Any] | None, service: str) -> Any:
    if clients and service in clients:
        return clients[service]
    from connectors.aws import client

    return client(service)


def build_backend(spec: PolicySpec, app: str, *, clients: Mapping[str, Any] | None = None, clock: Clock = SYSTEM_CLOCK):
    config = spec.backend_config(app)
    if isinstance(config, FlinkRestBackendConfig):
        return FlinkRestBackend(config, clock=clock)
    from scaling.backends.managed_flink import ManagedFlinkBackend

    return ManagedFlinkBackend(config, client=_client(clients, "kinesisanalyticsv2"), clock=clock)


def build_collector(spec: PolicySpec, app: str, *, clients: Mapping[str, Any] | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> SignalCollector:
    collectors: list[SignalCollector] = []
    for config in spec.signals_configs(app):
        if isinstance(config, CloudWatchSignalsConfig):
            collectors.append(CloudWatchCollector(config, client=_client(clients, "cloudwatch"), clock=clock))
        else:
            collectors.append(FlinkRestCollector(config))
    return collectors[0] if len(collectors) == 1 else CompositeCollector(collectors)


def build_lock(spec: PolicySpec, *, clients: Mapping[str, Any] | None = None, clock: Clock = SYSTEM_CLOCK) -> AppLock | None:
    lock = spec.controller_spec().lock
    if lock.type == "file":
        return FileLock(lock.directory)
    if lock.type == "dynamodb":
        return DynamoDBLock(lock.table, lease_s=lock.lease_s, client=_client(clients, "dynamodb"), clock=clock)
    return None


def build_controller(spec: PolicySpec, app: str, *, dry_run: bool = False, clients: Mapping[str, Any] | None = None,
                     clock: Clock = SYSTEM_CLOCK, registry: CollectorRegistry | None = None,
                     decision_log: str | None = None) -> Controller:
    settings = spec.controller_spec()
    log_path = decision_log or settings.decision_log
    return Controller(
        ControllerConfig(app=app, interval_s=settings.interval_s, dry_run=dry_run, wait_timeout_s=settings.wait_timeout_s),
        policy=spec.build_policy(), collector=build_collector(spec, app, clients=clients, clock=clock),
        backend=build_backend(spec, app, clients=clients, clock=clock), clock=clock, registry=registry,
        lock=build_lock(spec, clients=clients, clock=clock), decision_log=DecisionLog(log_path) if log_path else None)
