#!/usr/bin/env bash
# The GPU check for the transcoding sink: every plan the probe finds, in one run, on a 4K60 source.
#
# Sized for an NVIDIA data-center GPU host with 16 cores (H100/H200: NVDEC, no NVENC): about 4 minutes.
# Writes video_ladders.json and .png to $OUT (or benchmarks/results).  Nothing is fetched there: the
# ffmpeg binary travels xz-compressed in .video-carry/ (imageio-ffmpeg's wheel is over the 64 MiB a
# device call carries), made here by `bash benchmarks/video/prepare_gpu_carry.sh`.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR="${OUT:-benchmarks/results}"
mkdir -p "$OUT_DIR"
if [[ -f .video-carry/ffmpeg.xz ]]; then
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.video-carry/ffmpeg.xz'), open('/tmp/ffmpeg', 'wb'))"
  chmod +x /tmp/ffmpeg
  export SHARDLINE_FFMPEG=/tmp/ffmpeg
fi
for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
  [[ -d $dir ]] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dir"
done
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo)"
FF="${SHARDLINE_FFMPEG:-$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')}"
TIMEFORMAT="cuda device open: %R s wall, %U+%S s cpu"
for i in 1 2 3; do  # what one process pays to open the GPU: the cost a started-ahead process hides
  time "$FF" -hide_banner -loglevel error -init_hw_device cuda=gpu -f lavfi -i nullsrc=s=64x64:d=0.04 \
    -f null - || true
done
timeout "${VIDEO_CHECK_TIMEOUT_S:-420}" python3 -m benchmarks.video.ladders --source 4k60 --out "$OUT_DIR" "$@" \
  2>&1 | tee "$OUT_DIR/video_ladders.log"
