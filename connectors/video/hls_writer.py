"""Writes each video's HLS: rung segments first, then the playlists that name them, then the sink's state.

Layout under the store (keys sort in write order)::

    <video_id>/master.m3u8
    <video_id>/<height>p/index.m3u8
    <video_id>/<height>p/seg00000042.ts
    <video_id>/.shardline-hls.json     what a restarted sink reads to carry on the same playlists

Writing a segment again (a replay after a crash) replaces the same objects:
every write here is idempotent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from connectors.video.hls_store import HlsStore
from pipelines.video.hls import HlsSegment, RungPlaylist, master_playlist
from pipelines.video.ladder import SizedRung
from pipelines.video.segments import SegmentMeta

STATE_KEY = ".shardline-hls.json"


def segment_uri(sequence: int) -> str:
    return f"seg{sequence:08d}.ts"


@dataclass
class VideoPlaylists:
    video_id: str
    codec: str = "h264"
    fps: float = 30.0
    ended: bool = False
    rungs: dict[str, RungPlaylist] = field(default_factory=dict)

    def has(self, sequence: int) -> bool:
        return any(sequence in rung.segments and not rung.segments[sequence].gap for rung in self.rungs.values())

    def to_json(self) -> bytes:
        return json.dumps({"codec": self.codec, "fps": self.fps, "ended": self.ended, "rungs": {
            name: {"width": r.width, "height": r.height, "bandwidth": r.bandwidth,
                   "segments": [[s.sequence, s.uri, s.duration_s, s.discontinuity, s.gap]
                                for s in r.segments.values()]}
            for name, r in self.rungs.items()}}).encode()

    @classmethod
    def from_json(cls, video_id: str, data: bytes) -> "VideoPlaylists":
        state = json.loads(data)
        rungs = {}
        for name, r in state["rungs"].items():
            playlist = RungPlaylist(name, r["width"], r["height"], r["bandwidth"])
            for seq, uri, duration, discontinuity, gap in r["segments"]:
                playlist.add(HlsSegment(seq, uri, duration, discontinuity, gap))
            rungs[name] = playlist
        return cls(video_id, state["codec"], state["fps"], state["ended"], rungs)


class HlsWriter:
    def __init__(self, store: HlsStore, codec: str) -> None:
        self.store = store
        self.codec = codec
        self._videos: dict[str, VideoPlaylists] = {}

    async def playlists(self, video_id: str) -> VideoPlaylists:
        """This video's playlists, read back from the store the first time (a restarted sink carries on)."""
        if video_id not in self._videos:
            saved = await self.store.get(f"{video_id}/{STATE_KEY}")
            self._videos[video_id] = (VideoPlaylists.from_json(video_id, saved) if saved is not None
                                      else VideoPlaylists(video_id, self.codec))
        return self._videos[video_id]

    async def write_segment(self, meta: SegmentMeta, outputs: list[tuple[SizedRung, Path]],
                            ladder: list[SizedRung]) -> None:
        """Put every rung's segment, then the playlists; rungs of ``ladder`` missing from ``outputs`` get a gap."""
        video = await self.playlists(meta.video_id)
        video.fps, video.ended = meta.fps, False
        uri = segment_uri(meta.sequence)
        for rung, path in outputs:
            await self.store.put(f"{meta.video_id}/{rung.name}/{uri}", path.read_bytes())
        produced = {rung.name for rung, _ in outputs}
        new_rungs = False
        for rung in ladder:
            if rung.name not in video.rungs:
                video.rungs[rung.name] = RungPlaylist(rung.name, rung.width, rung.height, rung.bitrate_kbps * 1000)
                new_rungs = True
            video.rungs[rung.name].add(HlsSegment(meta.sequence, uri, meta.duration_s,
                                                  gap=rung.name not in produced))
        await self._write_playlists(video, master=new_rungs)

    async def end(self, video_id: str) -> None:
        video = await self.playlists(video_id)
        video.ended = True
        await self._write_playlists(video, master=False)

    async def _write_playlists(self, video: VideoPlaylists, master: bool) -> None:
        ordered = sorted(video.rungs.values(), key=lambda r: -r.height)
        for rung in ordered:
            await self.store.put(f"{video.video_id}/{rung.name}/index.m3u8", rung.render(video.ended).encode())
        if master:
            await self.store.put(f"{video.video_id}/master.m3u8",
                                 master_playlist(ordered, video.codec, video.fps).encode())
        await self.store.put(f"{video.video_id}/{STATE_KEY}", video.to_json())
