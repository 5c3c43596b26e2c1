#!/usr/bin/env bash
# `make bench`, ESRGAN part: a 4x RRDBNet (23 blocks, 64 features, random weights) upscaling a
# 512×512 image in invokego (fp32 and bf16, untiled and tiled at 512) and in plain PyTorch
# (bench/esrgan_torch.py, which first checks itself against the esrgan goldens), each
# configuration in its own process so that its peak RSS is its own; plus invokego on an
# image twice as wide (1004×512, two tiles) tiled at 512, to show that the peak follows the tile size
# rather than the image size.
# Writes bench/esrgan-results.md. Variables: PY, THREADS (2), RUNS (1), RESULTS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
RUNS=${RUNS:-1}
RESULTS=${RESULTS:-bench/esrgan-results.md}
OUT=$(mktemp -d /tmp/invokego-esrgan.XXXXXX)

"$PY" bench/esrgan_torch.py --check
# The peer gets the allocator run.sh gives it.
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
PRELOAD=""
[ -e "$JEMALLOC" ] && PRELOAD=$JEMALLOC
go build -o "$OUT/esrganbench" ./bench/cmd/esrganbench
echo "esrgan bench: load at start: $(uptime)" | tee "$OUT/load"
for p in fp32 bf16; do
	GOMAXPROCS="$THREADS" "$OUT/esrganbench" -size 512 -tile 0 -precision $p -runs "$RUNS" | tee -a "$OUT/results.jsonl"
	LD_PRELOAD="$PRELOAD" "$PY" bench/esrgan_torch.py --size 512 --precision $p --runs "$RUNS" --threads "$THREADS" | tee -a "$OUT/results.jsonl"
	GOMAXPROCS="$THREADS" "$OUT/esrganbench" -size 512 -tile 512 -precision $p -runs "$RUNS" | tee -a "$OUT/results.jsonl"
done
GOMAXPROCS="$THREADS" "$OUT/esrganbench" -size 512 -width 1004 -tile 512 -precision fp32 -runs 1 | tee -a "$OUT/results.jsonl"
echo "esrgan bench: load at end: $(uptime)" | tee -a "$OUT/load"

"$PY" bench/esrgan_report.py "$OUT" "$RESULTS"
