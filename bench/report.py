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

# Rows: (key, label, precision of the arithmetic, target ratio). The peak
# each figure is a fraction of is measured by enginebench on the machine
# itself (its "machine" line: register-only FMA / VDPBF16PS loops), never a
# constant: the same report runs on many CPUs.
ROWS = [
    ("unet_fp32", "UNet step fp32 (2×4×64×64)", "fp32", 0.7),
    ("unet_bf16", "UNet step bf16 (2×4×64×64)", "bf16", 1.0),
    ("text_encoder", "Text encoder (2×77 tokens)", "fp32", None),
    ("vae_decode", "VAE decode 512×512", "fp32", None),
    ("unet_plain_fp32", "UNet step fp32, timed beside the next row", "fp32", None),
    ("unet_controlnet_fp32", "UNet step fp32 + one ControlNet", "fp32", None),
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


def best_of(rows):
    """The faster (median wall seconds) of a side's fp32 and bf16 UNet step rows."""
    have = [r for r in (rows.get("unet_fp32"), rows.get("unet_bf16")) if r and r.get("seconds")]
    return min(have, key=lambda r: r["seconds"]) if have else None


def prec_of(r):
    return "bf16" if r["name"].endswith("bf16") else "fp32"


def best_of_both(add, eng, torch):
    """The UNet step as a user meets it: each precision like for like, then each
    side's best precision against the other's (a user picks the faster one)."""
    if not any(k in eng or k in torch for k in ("unet_fp32", "unet_bf16")):
        return
    add("")
    add("SD-1.5 UNet step (batch 2, 4×64×64 latents, 77×768 context), median wall seconds "
        "(process CPU seconds in brackets); the peer runs bf16 as a diffusers user would "
        "(`unet.to(torch.bfloat16)`, bf16 inputs):")
    add("")
    add("| | invokego | PyTorch peer | ratio invokego / peer (CPU ratio) |")
    add("|---|---|---|---|")

    def cell(r):
        if not r or not r.get("seconds"):
            return "n/a"
        return f"{r['seconds']:.2f} s ({r.get('cpu_seconds', 0):.1f} CPU-s)"

    def ratio(e, t):
        if not (e and t and e.get("seconds") and t.get("seconds")):
            return "n/a"
        cr = ""
        if e.get("cpu_seconds") and t.get("cpu_seconds"):
            cr = f" ({e['cpu_seconds'] / t['cpu_seconds']:.2f})"
        return f"**{e['seconds'] / t['seconds']:.2f}**{cr}"

    for k in ("unet_fp32", "unet_bf16"):
        e, t = eng.get(k), torch.get(k)
        add(f"| {k[5:]} | {cell(e)} | {cell(t)} | {ratio(e, t)} |")
    be, bt = best_of(eng), best_of(torch)
    if be and bt:
        add(f"| best of each (invokego {prec_of(be)}, peer {prec_of(bt)}) | {cell(be)} | {cell(bt)} | "
            f"{ratio(be, bt)} |")


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
    mach = eng.get("machine", {})
    threads = mach.get("threads") or cfg.get("threads") or 1
    # Where the bf16 products run on AMX tiles, their peak is TDPBF16PS's.
    amx = mach.get("bf16_gemm") == "amx" and mach.get("amx_peak_per_thread")
    peak_thread = {"fp32": mach.get("fp32_peak_per_thread") or 0,
                   "bf16": amx or mach.get("bf16_peak_per_thread") or 0}
    bf16_peak_name = "AMX TDPBF16PS" if amx else "VDPBF16PS"
    isa = ", ".join(mach.get("isa") or []) or "unknown"
    cpu = f"{mach.get('cpu', '?')} (cpu family {mach.get('cpu_family', '?')}, model {mach.get('cpu_model', '?')})"
    add(f"Machine: **{cpu}**, {platform.machine()}, {os.cpu_count()} CPUs; ISA: {isa}; both sides on "
        f"{cfg.get('threads', threads)} threads. Measured peaks (register-only loops, per CPU-second of one thread): "
        f"fp32 FMA **{peak_thread['fp32']:.0f}**, bf16 ({bf16_peak_name}) **{peak_thread['bf16']:.0f}** GFLOP "
        f"(× {threads} threads: {threads * peak_thread['fp32']:.0f} / {threads * peak_thread['bf16']:.0f} GFLOP/s); "
        f"1-min load while measuring them {mach.get('load', '?')}.")
    add(f"PyTorch {cfg.get('torch', '?')} (Debian), mkldnn {cfg.get('mkldnn')}, "
        f"OPENBLAS_CORETYPE={cfg.get('OPENBLAS_CORETYPE')}, LD_PRELOAD={cfg.get('LD_PRELOAD')}.")
    add(f"Load (uptime) before PyTorch: `{read(os.path.join(out_dir, 'uptime_torch'))}`; before invokego: "
        f"`{read(os.path.join(out_dir, 'uptime_engine'))}`; at the end: `{read(os.path.join(out_dir, 'uptime_end'))}`.")
    best_of_both(add, eng, torch)
    add("")
    add("Seconds are medians of the timed runs (wall clock). Ratio = invokego / PyTorch (< 1: invokego faster); "
        "the CPU ratio uses process CPU seconds instead, which a busy machine distorts less. "
        "GFLOP/s (peak %) divides by the measured peak × threads; GFLOP per CPU-second (peak %) divides by the "
        "measured per-thread peak and is the figure a shared machine distorts least. The peak is the fp32 one for "
        "fp32 rows and the bf16 one for bf16 rows (fp32 where the CPU has no bf16 dot product).")
    add("")
    add("| workload | GFLOP | invokego s | PyTorch s | ratio | CPU ratio | target | invokego GFLOP/s (peak %) | "
        "invokego GFLOP/CPU-s (peak %) | PyTorch GFLOP/s (peak %) | PyTorch GFLOP/CPU-s (peak %) | "
        "load 1-min (invokego / PyTorch) | PyTorch variant |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label, prec, target in ROWS:
        e, t = eng.get(key), torch.get(key)
        if not e and not t:
            continue
        gflop = (t or e or {}).get("gflop", 0)
        ratio = cpu_ratio = "n/a"
        if e and t and e.get("seconds") and t.get("seconds"):
            ratio = f"**{e['seconds'] / t['seconds']:.2f}**"
            if e.get("cpu_seconds") and t.get("cpu_seconds"):
                cpu_ratio = f"{e['cpu_seconds'] / t['cpu_seconds']:.2f}"
        pt = peak_thread[prec] or peak_thread["fp32"]

        def pct(g, peak):
            return f" ({100 * g / peak:.0f} %)" if peak else ""

        def perf(r):
            if not r or not r.get("seconds"):
                return "n/a"
            g = r["gflop"] / r["seconds"]
            return f"{g:.0f}{pct(g, pt * threads)}"

        def perf_cpu(r):
            if not r or not r.get("cpu_seconds"):
                return "n/a"
            g = r["gflop"] / r["cpu_seconds"]
            return f"{g:.0f}{pct(g, pt)}"

        add(f"| {label} | {gflop:.1f} | {fmt_s(e)} | {fmt_s(t)} | {ratio} | {cpu_ratio} | "
            f"{'≤ %.1f' % target if target else ''} | {perf(e)} | {perf_cpu(e)} | {perf(t)} | {perf_cpu(t)} | "
            f"{load_str(e)} / {load_str(t)} | {(t or {}).get('note', '')} |")
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
    images = [r for k, r in eng.items() if k and (k.startswith("image_512") or k.startswith("queue_image_"))]
    if images:
        add("")
        add("Time to a whole image in invokego: 512×512 SD-1.5 (and 1024×1024 SDXL with run.sh's SDXL_STEPS), random "
            "weights of the real sizes; text encoder(s) on both prompts, every denoising step, VAE decode, PNG encode, 256 px WebP thumbnail. **in-process**: "
            "enginebench calls the engine directly (guidance 0 = one UNet half per step); **queue**: InvokeAI's "
            "txt2img graph enqueued over HTTP to the real server in the bench's process, parts from the server's "
            "events, after a 1-step warm-up that loads the models (its peak, which includes loading, is the last "
            "column); peak RSS with the models resident, high-water mark reset before the timed run:")
        add("")
        add("| image | via | precision | scheduler | steps | CFG | total s | CPU s | text encoder s | mean step s | "
            "VAE decode s | PNG s | thumbnail s | peak RSS GB | load 1-min | load + warm-up peak GB |")
        add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in images:
            via = "queue" if r["name"].startswith("queue") else "in-process"
            warm = r.get("warmup_peak_rss_bytes")
            add(f"| {r['name']} | {via} | {r['precision']} | {r['scheduler']} | {r['steps']} | {r['cfg_scale']} | "
                f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r.get('text_encoder_seconds', 0):.2f} | "
                f"{r.get('mean_step_seconds', 0):.2f} | {r.get('vae_decode_seconds', 0):.2f} | "
                f"{r.get('png_encode_seconds', 0):.3f} | {r.get('thumbnail_seconds', 0):.3f} | "
                f"{r['peak_rss_bytes'] / 1e9:.2f} | {r.get('load', '?')} | "
                f"{'' if warm is None else f'{warm / 1e9:.2f}'} |")
    notes.append("- The peer (`bench/sdtorch.py`) was checked against diffusers 0.25.1's own UNet2DConditionModel on "
                 "the same weights: the same step output bit for bit in fp32 and bf16, and the same CPU time within "
                 "a few per cent (method and figures in bench/README.md).")
    notes.append("- On a loaded machine the peer's CPU-seconds overstate its work: its OpenMP threads spin while "
                 "waiting for a descheduled partner (on Zen 5 at load 4-10 its bf16 step took 19-21 CPU-s with the "
                 "default wait policy and 15-16 with OMP_WAIT_POLICY=PASSIVE), so there the CPU ratio flatters "
                 "invokego and the wall ratio, taken at the same load on both sides, is the fairer one.")
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
