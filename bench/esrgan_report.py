#!/usr/bin/python3
"""Writes the ESRGAN benchmark table (bench/esrgan.sh): esrgan_report.py OUT_DIR RESULTS_MD."""
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
         "1004×512 row tiled at 512 (two tiles, twice the work, so its ratios are not like for like) shows the peak",
         "RSS following the tile, not the image.", ""]
lines += ["Machine load: " + "; ".join(load), ""]
lines.append("| side | precision | image | tile | tiles | seconds | CPU seconds | ratio to PyTorch best | CPU ratio | GFLOP/s (wall) | peak RSS MiB |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    ratio = f"{r['seconds'] / best:.2f}" if best and r["side"] == "invokego" else ""
    cratio = f"{r['cpu_seconds'] / best_cpu:.2f}" if best_cpu and r["side"] == "invokego" else ""
    gf = f"{r['gflop'] / r['seconds']:.0f}" if "gflop" in r else ""
    w = r.get("width", r["size"])
    dims = f"{r['size']}²" if w == r["size"] else f"{w}×{r['size']}"
    lines.append(f"| {r['side']} | {r['precision']} | {dims} | {r['tile'] or 'none'} | {r.get('tiles', 1)} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | {ratio} | {cratio} | {gf} | {r['peak_rss_mib']:.0f} |")
open(results, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
