"""The file-tailing agent: Kinesis Agent's agent.json, done durably (see agent.py)."""
