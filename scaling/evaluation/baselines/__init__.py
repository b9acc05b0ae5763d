"""Baselines the benchmark compares against, each re-implemented from its published behaviour."""
from scaling.evaluation.baselines.aws_sample import AwsSampleConfig, AwsSamplePolicy
from scaling.evaluation.baselines.builtin import BuiltinConfig, BuiltinPolicy
from scaling.evaluation.baselines.ds2 import DS2Config, DS2Policy
from scaling.evaluation.baselines.flink_operator import FlinkOperatorConfig, FlinkOperatorPolicy
from scaling.evaluation.baselines.static import StaticPolicy

__all__ = [
    "AwsSampleConfig", "AwsSamplePolicy", "BuiltinConfig", "BuiltinPolicy", "DS2Config", "DS2Policy",
    "FlinkOperatorConfig", "FlinkOperatorPolicy", "StaticPolicy",
]
