#!/usr/bin/env bash
# Pack imageio-ffmpeg's static ffmpeg (172 MB; 48 MB as xz) into .video-carry/ for gpu_check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .video-carry
grep -qxF '/.video-carry/' .git/info/exclude 2>/dev/null || echo '/.video-carry/' >> .git/info/exclude
exe=$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
[[ .video-carry/ffmpeg.xz -nt "$exe" ]] || xz -T0 -9 -c "$exe" > .video-carry/ffmpeg.xz
ls -l .video-carry/ffmpeg.xz
