"""KCL record processors: entry points the MultiLangDaemon starts, one process per shard.

Each is run as ``python -m jobs.kcl.<name>`` (see ``connectors.kcl.python_processor``).
"""
