"""PyFlink job mains.  Each module has ``main()`` and runs as ``python -m jobs.flink.<job>``
locally, or as the ``main.py`` of a Managed Flink zip (``jobs.packaging.flink``)."""
