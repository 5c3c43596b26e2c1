"""Builds the `make bench` comparison table from the JSON lines written by
torch_bench.py and enginebench (in OUT_DIR/torch.jsonl and engine.jsonl),
prints it and writes it as Markdown.

Usage: python3 bench/report.py OUT_DIR [RESULTS_MD]
"""

import datetime
import json
import os
import platform
import sys

PEAK_FP32 = 444.0  # GFLOP/s: 2 Zen 5 cores × 222 (2 × 512-bit FMA per cycle)
PEAK_BF16 = 2 * PEAK_FP32  # VDPBF16PS: two multiply-adds per fp32 lane

ROWS = [
    ("unet_fp32", "UNet step fp32 (2×4×64×64)", PEAK_FP32, 0.7),
    ("unet_bf16", "UNet step bf16 (2×4×64×64)", PEAK_BF16, 1.0),
    ("text_encoder", "Text encoder (2×77 tokens)", PEAK_FP32, None),
    ("vae_decode", "VAE decode 512×512", PEAK_FP32, None),
    ("unet_plain_fp32", "UNet step fp32, timed beside the next row", PEAK_FP32, None),
    ("unet_controlnet_fp32", "UNet step fp32 + one ControlNet", PEAK_FP32, None),
]


def read_jsonl(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            out[r.get("name")] = r
    return out


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def fmt_s(r):
    if not r or not r.get("seconds"):
        return "n/a"
    return f"{r['seconds']:.3f}"


def load_str(r):
    if not r or not r.get("load"):
        return "?"
    return "→".join(f"{x:.1f}" for x in r["load"])


def main():
    out_dir = sys.argv[1]
    results = sys.argv[2] if len(sys.argv) > 2 else None
    torch = read_jsonl(os.path.join(out_dir, "torch.jsonl"))
    eng = read_jsonl(os.path.join(out_dir, "engine.jsonl"))
    cfg = torch.get("config", {})
    lines = []
    add = lines.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    add(f"# `make bench`: invokego vs PyTorch ({now})")
    add("")
    add(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; both sides on {cfg.get('threads', '?')} threads. "
        f"PyTorch {cfg.get('torch', '?')} (Debian), mkldnn {cfg.get('mkldnn')}, "
        f"OPENBLAS_CORETYPE={cfg.get('OPENBLAS_CORETYPE')}, LD_PRELOAD={cfg.get('LD_PRELOAD')}.")
    add(f"Load (uptime) before PyTorch: `{read(os.path.join(out_dir, 'uptime_torch'))}`; before invokego: "
        f"`{read(os.path.join(out_dir, 'uptime_engine'))}`; at the end: `{read(os.path.join(out_dir, 'uptime_end'))}`.")
    add("")
    add("Seconds are medians of the timed runs (wall clock). Ratio = invokego / PyTorch (< 1: invokego faster); "
        "the CPU ratio uses process CPU seconds instead, which a busy machine distorts less. "
        "Peak fraction = achieved GFLOP/s over the machine's FMA peak (fp32 444 GFLOP/s on 2 cores, bf16 888).")
    add("")
    add("| workload | GFLOP | invokego s | PyTorch s | ratio | CPU ratio | target | invokego GFLOP/s (peak %) | "
        "PyTorch GFLOP/s (peak %) | load 1-min (invokego / PyTorch) | PyTorch variant |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label, peak, target in ROWS:
        e, t = eng.get(key), torch.get(key)
        gflop = (t or e or {}).get("gflop", 0)
        ratio = cpu_ratio = "n/a"
        if e and t and e.get("seconds") and t.get("seconds"):
            ratio = f"**{e['seconds'] / t['seconds']:.2f}**"
            if e.get("cpu_seconds") and t.get("cpu_seconds"):
                cpu_ratio = f"{e['cpu_seconds'] / t['cpu_seconds']:.2f}"

        def perf(r):
            if not r or not r.get("seconds"):
                return "n/a"
            g = r["gflop"] / r["seconds"]
            return f"{g:.0f} ({100 * g / peak:.0f} %)"

        add(f"| {label} | {gflop:.1f} | {fmt_s(e)} | {fmt_s(t)} | {ratio} | {cpu_ratio} | "
            f"{'≤ %.1f' % target if target else ''} | {perf(e)} | {perf(t)} | {load_str(e)} / {load_str(t)} | "
            f"{(t or {}).get('note', '')} |")
    notes = [f"- invokego {k}: {r['note']}" for k, r in eng.items() if r.get("note") and k in dict((r[0], 1) for r in ROWS)]
    if eng.get("unet_fp32") and torch.get("unet_fp32"):
        ge, gt = eng["unet_fp32"]["gflop"], torch["unet_fp32"]["gflop"]
        if abs(ge - gt) > 1e-3 * gt:
            notes.append(f"- FLOP counts differ: invokego {ge:.1f}, PyTorch {gt:.1f} GFLOP")
    mem = eng.get("peak_rss_512")
    add("")
    if mem:
        gib = 1 << 30
        add(f"Peak RSS of a 512×512 SD-1.5 run in invokego (text encoder, {mem['steps']} UNet steps at batch 2, "
            f"VAE decode; high-water mark reset after loading{'' if mem.get('hwm_reset') else ' — reset FAILED, includes loading'}): "
            f"**{mem['peak_rss_bytes'] / gib:.2f} GiB** against weights of {mem['weights_bytes'] / gib:.2f} GiB (fp32); "
            f"target ≤ 1.3 × weights + 1 GiB = {mem['limit_bytes'] / gib:.2f} GiB → "
            f"{'within' if mem['within_limit'] else 'OVER'} ({100 * mem['peak_over_limit']:.0f} % of the limit). "
            f"RSS before the run {mem['rss_before'] / gib:.2f} GiB.")
    notes.append("- The peer is Debian bookworm's torch 1.13: it has no fused attention (scaled_dot_product_attention "
                 "arrived in torch 2.0), so its UNet and VAE attention run unfused (baddbmm → softmax → bmm over "
                 "4096×4096 score matrices at head width 40), as diffusers does on torch 1.13. A torch 2.x peer would "
                 "be considerably faster on the 64×64 attention layers.")
    if notes:
        add("")
        add("Notes:")
        lines.extend(notes)
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if results:
        with open(results, "w") as f:
            f.write(text)
        print(f"bench: table written to {results}")


if __name__ == "__main__":
    main()
