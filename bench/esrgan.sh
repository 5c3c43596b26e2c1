#!/usr/bin/env bash
# `make bench`, ESRGAN part: a 4x RRDBNet (23 blocks, 64 features, random weights) upscaling a
# 512×512 image in invokego (fp32 and bf16, untiled and tiled at 512) and in plain PyTorch
# (bench/esrgan_torch.py, which first checks itself against the esrgan goldens), each
# configuration in its own process so that its peak RSS is its own; plus invokego on a 768×768
# image tiled at 512, to show that the peak follows the tile size rather than the image size.
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
GOMAXPROCS="$THREADS" "$OUT/esrganbench" -size 768 -tile 512 -precision bf16 -runs 1 | tee -a "$OUT/results.jsonl"
echo "esrgan bench: load at end: $(uptime)" | tee -a "$OUT/load"

"$PY" - "$OUT" "$RESULTS" <<'PYEOF'
import json, sys
out, results = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(out + "/results.jsonl") if l.strip()]
load = open(out + "/load").read().strip().splitlines()
torch = {r["precision"]: r for r in rows if r["side"] == "pytorch"}
best = min(r["seconds"] for r in torch.values()) if torch else None
best_cpu = min(r["cpu_seconds"] for r in torch.values()) if torch else None
lines = ["# `make bench`: ESRGAN 4x (RRDBNet 23 blocks, 64 features, random weights)", "",
         "Each row is one process (peak RSS is that configuration's); seconds are the best of the timed runs.",
         "Ratio = invokego seconds / PyTorch's best time (either precision); target ≤ 0.7. The CPU ratio divides",
         "process CPU seconds (all threads) instead, which a loaded machine distorts less. A 512×512 image tiled at",
         "512 is one tile (InvokeAI clamps the tile to the image), so tiled and untiled do the same work there; the",
         "768×768 row tiled at 512 (4 tiles) shows the peak RSS following the tile, not the image.", ""]
lines += ["Machine load: " + "; ".join(load), ""]
lines.append("| side | precision | image | tile | tiles | seconds | CPU seconds | ratio to PyTorch best | CPU ratio | GFLOP/s (wall) | peak RSS MiB |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    ratio = f"{r['seconds'] / best:.2f}" if best and r["side"] == "invokego" else ""
    cratio = f"{r['cpu_seconds'] / best_cpu:.2f}" if best_cpu and r["side"] == "invokego" else ""
    gf = f"{r['gflop'] / r['seconds']:.0f}" if "gflop" in r else ""
    lines.append(f"| {r['side']} | {r['precision']} | {r['size']}² | {r['tile'] or 'none'} | {r.get('tiles', 1)} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | {ratio} | {cratio} | {gf} | {r['peak_rss_mib']:.0f} |")
open(results, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
