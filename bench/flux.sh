#!/usr/bin/env bash
# `make bench`, FLUX part: one FLUX.1 transformer step at 1024×1024 (4096 image + 512 text tokens) and
# 512×512 (1024 + 512) with random weights at FLUX.1's widths, for invokego with bf16, Q8_0 and Q4_K
# weights (fp32 and bf16 arithmetic) and for the plain-PyTorch peer (bench/fluxtorch.py, bf16, which first
# checks itself against the flux-tiny transformer goldens). Each configuration builds FLUX.1's embedders, one
# double-stream and one single-stream block and the final layer (full-size blocks, ~0.5–1 GB of weights),
# times one call block by block, and extrapolates the step as 19 double + 38 single blocks + the rest. Each
# runs in its own process, so its peak RSS is its own. The GEMM rate of the engine's fp32 and bf16 kernels on
# a large product is measured first and is what "% of peak" divides by.
# Writes bench/flux-results.md. Variables: PY, THREADS (2), RUNS (1), SIZES ("1024 512"), RESULTS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
RUNS=${RUNS:-1}
SIZES=${SIZES:-"1024 512"}
RESULTS=${RESULTS:-bench/flux-results.md}
OUT=$(mktemp -d /tmp/invokego-flux.XXXXXX)

"$PY" bench/fluxtorch.py --check
go build -o "$OUT/fluxbench" ./bench/cmd/fluxbench
echo "flux bench: load at start: $(uptime)" | tee "$OUT/load"
GOMAXPROCS="$THREADS" "$OUT/fluxbench" -peak -runs 3 | tee -a "$OUT/results.jsonl"
for size in $SIZES; do
	OMP_NUM_THREADS="$THREADS" "$PY" bench/fluxtorch.py --bench --size "$size" --runs "$RUNS" --threads "$THREADS" | tee -a "$OUT/results.jsonl"
	for format in bf16 q8_0 q4_k; do
		for compute in f32 bf16; do
			GOMAXPROCS="$THREADS" "$OUT/fluxbench" -format "$format" -compute "$compute" -size "$size" -runs "$RUNS" | tee -a "$OUT/results.jsonl"
		done
	done
done
echo "flux bench: load at end: $(uptime)" | tee -a "$OUT/load"

"$PY" - "$OUT" "$RESULTS" <<'PYEOF'
import json, sys
out, results = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(out + "/results.jsonl") if l.strip()]
load = open(out + "/load").read().strip().splitlines()
peak = {r["compute"]: r["gflops"] for r in rows if r.get("name") == "gemm_peak"}
peak_cpu = {r["compute"]: r["gflop_per_cpu_s"] for r in rows if r.get("name") == "gemm_peak"}
lines = ["# `make bench`: one FLUX.1 transformer step (random weights at FLUX.1's widths)", "",
         "Each row is one process (its peak RSS is its own) holding FLUX.1's embedders, **one** double-stream and **one**",
         "single-stream block at full size and the final layer; the step is extrapolated as 19 double + 38 single blocks",
         "+ the rest. Block GFLOP/s count the linear layers and both attention products. Peak = the engine's own GEMM",
         f"rate on a 4096×3072·3072×3072 product: fp32 {peak.get('fp32', 0):.0f} GFLOP/s, bf16 {peak.get('bf16', 0):.0f} GFLOP/s",
         "(% of peak uses the row's arithmetic). `bf16 / Q8_0 / Q4_K` name the weight storage (decoded panel by panel",
         "inside the GEMM); `f32` / `bf16` compute name the product arithmetic. The machine is shared: the CPU-second",
         "columns (GFLOP per CPU-second of the process, against the GEMM's own rate per CPU-second: fp32",
         f"{peak_cpu.get('fp32', 0):.0f}, bf16 {peak_cpu.get('bf16', 0):.0f}) are the load-independent figures.", ""]
lines += ["Machine load: " + "; ".join(load), ""]
lines.append("| side | image | weights | compute | double block s | single block s | step s (extrapolated) | "
             "block GFLOP/s (% of peak) | step CPU-s | block GFLOP/CPU-s (% of peak) | CPU-s ratio to PyTorch | "
             "weights in process MiB | peak RSS MiB |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
torch = {r["size"]: r for r in rows if r.get("impl") == "pytorch"}
for r in rows:
    if r.get("name") == "gemm_peak":
        continue
    blk = 2 * r["block_gflop"] / (r["double_s"] + r["single_s"])
    p = peak.get("bf16" if r["compute"] in ("bf16", "bfloat16") else "fp32")
    pct = f" ({100 * blk / p:.0f} %)" if p else ""
    pc = peak_cpu.get("bf16" if r["compute"] in ("bf16", "bfloat16") else "fp32")
    pct_cpu = f" ({100 * r['block_gflop_per_cpu_s'] / pc:.0f} %)" if pc else ""
    t = torch.get(r["size"])
    ratio = f"{r['step_cpu_s'] / t['step_cpu_s']:.2f}" if t and r["impl"] == "invokego" else ""
    lines.append(f"| {r['impl']} | {r['size']}² | {r['format']} | {r['compute']} | {r['double_s']:.2f} | {r['single_s']:.2f} | "
                 f"{r['step_s']:.0f} | {blk:.0f}{pct} | {r['step_cpu_s']:.0f} | {r['block_gflop_per_cpu_s']:.0f}{pct_cpu} | {ratio} | "
                 f"{r['weights_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
open(results, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
