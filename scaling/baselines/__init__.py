"""Baselines the benchmark compares against, each re-implemented from its published behaviour."""
from scaling.baselines.aws_sample import AwsSampleConfig, AwsSamplePolicy
from scaling.baselines.builtin import BuiltinConfig, BuiltinPolicy
from scaling.baselines.ds2 import DS2Config, DS2Policy
from scaling.baselines.flink_operator import FlinkOperatorConfig, FlinkOperatorPolicy
from scaling.baselines.static import StaticPolicy

__all__ = [
    "AwsSampleConfig", "AwsSamplePolicy", "BuiltinConfig", "BuiltinPolicy", "DS2Config", "DS2Policy",
    "FlinkOperatorConfig", "FlinkOperatorPolicy", "StaticPolicy",
]
