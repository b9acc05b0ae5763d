"""The local asyncio engine: the runner, the stream commands, sink specs, dead-letter redrive, and the
local hosts of the patterns (PII, video) and the demo."""
