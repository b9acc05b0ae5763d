"""The transcoding pattern: a video stream in, an adaptive-bitrate ladder (HLS) out.

Pure logic only: the ladder and its sizes, the plan chosen from probed
capabilities, the ffmpeg filter graph for a plan (as argument lists, never
run here), segment parts and their reassembly, HLS playlists, and the
degradation and admission rules.  ``connectors.video`` runs ffmpeg and writes
to S3 or a folder; ``jobs.video`` hosts the sink on the local runner and KCL.
"""
