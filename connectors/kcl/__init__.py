"""KCL 3.x (amazon-kclpy's MultiLangDaemon) as a shardline engine.

``daemon``: configure and start the Java daemon.  ``processor``: the Python
record processor it starts per shard.  Importing this package imports neither
boto3 nor the daemon's jars.
"""
from connectors.kcl.daemon import (FAST_START_JVM_OPTIONS, STREAM_VARIABLE, WORKER_ID_VARIABLE, DaemonProcess, KclConfig, KclError,
                                   daemon_command, daemon_environment, kclpy_jars_dir, python_processor,
                                   run_daemon, write_logback, write_properties)

__all__ = ["FAST_START_JVM_OPTIONS", "STREAM_VARIABLE", "WORKER_ID_VARIABLE", "DaemonProcess", "KclConfig", "KclError", "daemon_command",
           "daemon_environment", "kclpy_jars_dir", "python_processor", "run_daemon", "write_logback",
           "write_properties"]
