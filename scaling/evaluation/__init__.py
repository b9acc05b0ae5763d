"""The autoscaler's evaluation: the trace-driven simulator, its traces, the baselines it is compared
against, the oracle, and the comparison.  The runtime (signals, policies, decisions, backends) never imports it."""
