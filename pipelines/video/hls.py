"""HLS playlists: a master playlist naming every rung, and one media playlist per rung.

Pure text from the sink's state; ``connectors.video.hls_store`` writes it.

>>> rung = RungPlaylist("720p", 1280, 720, 3_000_000)
>>> rung.add(HlsSegment(0, "seg00000000.ts", 2.0))
>>> rung.add(HlsSegment(2, "seg00000002.ts", 2.0, discontinuity=True))
>>> print(rung.render(ended=True))
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:2.000000,
seg00000000.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.000000,
seg00000002.ts
#EXT-X-ENDLIST
<BLANKLINE>
>>> print(master_playlist([rung], codec="h264", fps=30.0))
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=3300000,AVERAGE-BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f",FRAME-RATE=30.000
720p/index.m3u8
<BLANKLINE>
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# RFC 6381 codec strings for the profiles we encode: x264 High (level by size), x265 Main.
_H264_LEVELS = ((921_600 * 30, "1f"), (2_073_600 * 30, "28"), (2_073_600 * 60, "2a"), (8_912_896 * 30, "33"))


def codec_string(codec: str, width: int, height: int, fps: float) -> str:
    if codec == "hevc":
        return "hvc1.1.6.L123.B0"
    rate = width * height * fps
    level = next((lvl for limit, lvl in _H264_LEVELS if rate <= limit), "34")
    return f"avc1.6400{level}"


@dataclass(frozen=True)
class HlsSegment:
    sequence: int
    uri: str
    duration_s: float
    discontinuity: bool = False
    """Set on the first segment after one that was lost, so players reset their timeline there."""
    gap: bool = False
    """The rung has no media for this segment (dropped while degraded): players take another rung for it."""


@dataclass
class RungPlaylist:
    name: str
    width: int
    height: int
    bandwidth: int
    """Bits per second, the rung's target."""
    segments: dict[int, HlsSegment] = field(default_factory=dict)

    def add(self, segment: HlsSegment) -> None:
        """Add or replace (a replay rewrites the same segment) by sequence number."""
        self.segments[segment.sequence] = segment

    def render(self, ended: bool = False) -> str:
        ordered = [self.segments[k] for k in sorted(self.segments)]
        gaps = any(s.gap for s in ordered)
        target = max((math.ceil(s.duration_s - 1e-6) for s in ordered), default=2)
        lines = ["#EXTM3U", f"#EXT-X-VERSION:{8 if gaps else 3}", "#EXT-X-PLAYLIST-TYPE:EVENT",
                 f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{ordered[0].sequence if ordered else 0}",
                 "#EXT-X-INDEPENDENT-SEGMENTS"]
        previous = None
        for segment in ordered:
            if segment.discontinuity or (previous is not None and segment.sequence != previous + 1):
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.gap:
                lines.append("#EXT-X-GAP")
            lines += [f"#EXTINF:{segment.duration_s:.6f},", segment.uri]
            previous = segment.sequence
        if ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def master_playlist(rungs: list[RungPlaylist], codec: str, fps: float) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rung in rungs:
        peak = int(rung.bandwidth * 1.1)  # CBR with a one-second buffer: peaks stay near the target
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={rung.bandwidth},"
                     f"RESOLUTION={rung.width}x{rung.height},CODECS=\"{codec_string(codec, rung.width, rung.height, fps)}\","
                     f"FRAME-RATE={fps:.3f}")
        lines.append(f"{rung.name}/index.m3u8")
    return "\n".join(lines) + "\n"
