"""Where signals come from: CloudWatch GetMetricData (scaling.collectors.cloudwatch) and the Flink REST
API (scaling.collectors.flink_rest), each mapped onto scaling.signals' canonical metric names."""
from scaling.collectors.base import CompositeCollector, SignalCollector, merge

__all__ = ["CompositeCollector", "SignalCollector", "merge"]
