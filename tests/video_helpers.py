"""Shared by the video tests: small synthetic clips, their parts, and reading HLS output back with PyAV."""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from connectors.video.publisher import cut_segments, synthetic_clip
from pipelines.video.segments import SegmentMeta, SegmentPart, split_segment

PART_BYTES = 64 * 1024  # small records, so every segment travels as several parts


def clip_segments(name: str, seconds: float, folder: Path) -> list:
    return list(cut_segments(synthetic_clip(name, seconds, folder)))


def parts_of(cuts, video_id: str = "cam-1", max_record_bytes: int = PART_BYTES) -> list[list[SegmentPart]]:
    """Per segment, its parts."""
    out = []
    for sequence, cut in enumerate(cuts):
        meta = replace(cut.meta, video_id=video_id, sequence=sequence)
        out.append(split_segment(meta, cut.data, max_record_bytes=max_record_bytes))
    return out


def reparted(parts: list[SegmentPart], data: bytes, **meta_changes) -> list[SegmentPart]:
    """The same segment with other bytes (or codec parameters), split again."""
    meta = replace(parts[0].meta, **meta_changes)
    return split_segment(SegmentMeta(**{**meta.__dict__, "segment_bytes": 0, "sha256": ""}), data,
                         max_record_bytes=PART_BYTES)


def decode(data: bytes) -> dict:
    """What a player sees in one MPEG-TS segment: size, frame count, keyframe flags, first and last pts."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [(frame.pts, frame.key_frame) for frame in container.decode(stream)]
        return {"width": stream.codec_context.width, "height": stream.codec_context.height, "frames": len(frames),
                "first_is_key": frames[0][1], "keys": sum(k for _, k in frames),
                "first_pts": frames[0][0], "last_pts": frames[-1][0], "time_base": stream.time_base}


def parse_master(text: str) -> list[tuple[str, str]]:
    """(RESOLUTION, uri) for every variant of a master playlist."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            resolution = line.split("RESOLUTION=")[1].split(",")[0]
            out.append((resolution, lines[i + 1]))
    return out


def parse_media(text: str) -> list[dict]:
    """The segments of a media playlist: uri, duration, and the discontinuity/gap tags before it."""
    segments, pending = [], {}
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            pending["duration"] = float(line[8:].rstrip(","))
        elif line == "#EXT-X-DISCONTINUITY":
            pending["discontinuity"] = True
        elif line == "#EXT-X-GAP":
            pending["gap"] = True
        elif line and not line.startswith("#"):
            segments.append({"uri": line, **pending})
            pending = {}
    return segments
