"""`shardline agent --config agent.json`: ship log files to Kinesis or Firehose, Kinesis Agent's way, durably."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Optional

import typer

from jobs.cli.errors import fail, run_async


def agent(config: Path = typer.Option(..., "--config", "-c", help="Kinesis Agent's agent.json (read as it is)"),
          once: bool = typer.Option(False, "--once", help="Ship what the files hold now, checkpoint, and exit"),
          metrics_port: Optional[int] = typer.Option(None, "--metrics-port",
                                                     help="Serve Prometheus metrics on this port"),
          state_dir: Optional[Path] = typer.Option(None, "--state-dir",
                                                   help="Checkpoints and dead letters (overrides stateDirectory)"),
          log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR"),
          as_json: bool = typer.Option(False, "--json", help="Print the final counts as JSON")):
    """Tail the files of every flow and ship their lines; SIGTERM flushes, checkpoints and exits 0."""
    import dataclasses

    from connectors.agent.agent import Agent, apply_endpoints
    from connectors.agent.config import load_config

    logging.getLogger("shardline").setLevel(log_level.upper())
    try:
        settings = load_config(config)
    except (ValueError, FileNotFoundError) as exc:
        fail(f"{config}: {exc}")
    if state_dir is not None:
        settings = dataclasses.replace(settings, state_directory=state_dir)
    apply_endpoints(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)

    async def main() -> Agent:
        runner = Agent(settings, max_failures=5 if once else None)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run(once=once)
        return runner

    runner = run_async(main())
    counts = {sample.labels["flow"]: sample.value for metric in runner.registry.collect()
              if metric.name == "shardline_agent_records" for sample in metric.samples
              if sample.name.endswith("_total")}
    if as_json:
        print(json.dumps({"records_by_flow": counts}))


def bench(lines: int = typer.Option(200_000, min=1, help="Lines in the file the agent ships"),
          naive_seconds: float = typer.Option(5.0, min=0.1, help="Time box of the naive put_record loop"),
          latency_lines: int = typer.Option(2_000, min=1, help="Lines written at 1,000/s for the latency run"),
          out_dir: Path = typer.Option(Path("benchmarks/results"), help="Where agent.json and agent.png go"),
          as_json: bool = typer.Option(False, "--json", help="Print the result as JSON")):
    """Lines/s per core tailed and shipped (KPL-aggregated) against a naive put_record loop, and p99 latency."""
    from benchmarks.agent import run

    result = run(lines, naive_seconds=naive_seconds, latency_lines=latency_lines, out_dir=out_dir)
    result["latency"].pop("latencies_ms", None)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    agent_rate, naive_rate = result["contenders"]["agent"]["cpu_rate"], result["contenders"]["naive"]["cpu_rate"]
    latency = result["latency"]
    print(f"agent: {agent_rate:,.0f} lines/s per core ({result['speedup_cpu']}x the naive loop's "
          f"{naive_rate:,.0f}); write to stream p50 {latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms")


if __name__ == "__main__":  # `python -m jobs.cli.agent`, before the command is registered in jobs.cli
    from jobs.cli import configure_logging

    configure_logging()
    typer.run(agent)
