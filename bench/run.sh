#!/usr/bin/env bash
# `make bench`, comparison part: installs the PyTorch peer if missing, checks
# it against the fixture goldens, runs the PyTorch and invokego benchmarks
# one after the other and writes the comparison table (stdout and
# bench/results.md). Timings are wall-clock medians on THREADS threads.
#
# Variables: PY (Debian's python3 with python3-torch), THREADS (2), RUNS (3),
# WARMUP (1), IMAGE_STEPS (25), TURBO_STEPS (4), SDXL_STEPS (0: no SDXL image), TORCH_ARGS (extra torch_bench.py flags, e.g. --explore),
# ENGINE_ARGS (extra enginebench flags), RESULTS (bench/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
RESULTS=${RESULTS:-bench/results.md}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/invokego-bench.XXXXXX)}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
mkdir -p "$OUT"

# 1. The peer: Debian's python3-torch (torch 1.13 on bookworm), numpy, jemalloc
# and OpenBLAS (OpenMP build, matching torch's OpenMP runtime). Without
# OpenBLAS, Debian's torch falls back to the reference BLAS (libblas3) for
# every Linear layer, which would cripple the peer.
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if ! "$PY" -c 'import torch, numpy' 2>/dev/null || [ ! -e "$JEMALLOC" ] || [ ! -e "$OPENBLAS" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench: installing python3-torch python3-numpy libjemalloc2 libopenblas0-openmp from apt"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-numpy libjemalloc2 libopenblas0-openmp >/dev/null
	else
		echo "bench: warning: not root; cannot install missing python3-torch / libjemalloc2 / libopenblas0-openmp" >&2
	fi
fi
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
	echo "bench: $PY cannot import torch and numpy; install python3-torch python3-numpy (apt) or set PY" >&2
	exit 1
fi

# 2. The peer computes the same networks as diffusers.
"$PY" bench/check_goldens.py

# 3. Both benchmarks, back to back, with the peer given its best environment
# (torch_bench.py also re-executes itself this way when called directly).
PRELOAD=""
[ -e "$JEMALLOC" ] && PRELOAD=$JEMALLOC
echo "bench: load before PyTorch: $(uptime)"
uptime >"$OUT/uptime_torch"
env -u OPENBLAS_CORETYPE LD_PRELOAD="$PRELOAD" OMP_NUM_THREADS="$THREADS" \
	"$PY" bench/torch_bench.py --runs "$RUNS" --warmup "$WARMUP" ${TORCH_ARGS:-} | tee "$OUT/torch.jsonl"

echo "bench: load before invokego: $(uptime)"
uptime >"$OUT/uptime_engine"
go build -o "$OUT/enginebench" ./bench/cmd/enginebench
GOMAXPROCS="$THREADS" "$OUT/enginebench" -runs "$RUNS" -warmup "$WARMUP" ${ENGINE_ARGS:-} | tee "$OUT/engine.jsonl"
# Whole 512×512 images, part by part, per precision (IMAGE_STEPS dpmpp_2m steps, then a
# TURBO_STEPS-step turbo-style image); long on two shared cores.
GOMAXPROCS="$THREADS" "$OUT/enginebench" -only image -image-steps "${IMAGE_STEPS:-25}" -turbo-steps "${TURBO_STEPS:-4}" \
	| grep -v '"name":"machine"' | tee -a "$OUT/engine.jsonl"
# The same images through the server's queue (InvokeAI's txt2img graph over HTTP; a fresh server and root per
# image; writes ~2 GB of bf16 model files under TMPDIR and deletes them).
GOMAXPROCS="$THREADS" "$OUT/enginebench" -only queue -image-steps "${IMAGE_STEPS:-25}" -turbo-steps "${TURBO_STEPS:-4}" \
	| grep -v '"name":"machine"' | tee -a "$OUT/engine.jsonl"
# SDXL-base-sized 1024² through the queue, only when asked (SDXL_STEPS=N: ~50 s a step on 2 cores and
# 7 GB of bf16 model files under TMPDIR).
if [ "${SDXL_STEPS:-0}" -gt 0 ]; then
	GOMAXPROCS="$THREADS" "$OUT/enginebench" -only sdxl -sdxl-steps "$SDXL_STEPS" \
		| grep -v '"name":"machine"' | tee -a "$OUT/engine.jsonl"
fi
uptime >"$OUT/uptime_end"

# 4. The table.
"$PY" bench/report.py "$OUT" "$RESULTS"
