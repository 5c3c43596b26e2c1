#!/usr/bin/python3
"""The plain-PyTorch peer of the ESRGAN benchmark: RRDBNet written out with torch.nn.functional (no
spandrel, no basicsr). --check first reproduces the esrgan goldens in testdata/ (spandrel 0.4.2 outputs) to
1e-4 of their largest magnitude; the benchmark then times a 4x RRDBNet (23 blocks, 64 features, growth 32,
random weights) on one image and prints one JSON line with the seconds and the process's peak RSS.

Usage: esrgan_torch.py --check | esrgan_torch.py --size 512 --precision fp32|bf16 [--runs N] [--threads T]
"""
import argparse
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

GOLDENS = "testdata/sd-ext/esrgan/"


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8 : 8 + n])
    data = b[8 + n :]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16, "U8": np.uint8}[v["dtype"]]
        a = np.frombuffer(data[s:e], dtype=dt).reshape(v["shape"])
        out[k] = torch.from_numpy(a.astype(np.float32) if dt != np.uint8 else a.copy())
    return out


def rrdbnet(sd, x, blocks, shuffle):
    c = lambda name, t: F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], padding=1)
    lrelu = lambda t: F.leaky_relu(t, 0.2)
    if shuffle > 1:
        x = F.pixel_unshuffle(x, shuffle)
    fea = c("conv_first", x)
    h = fea
    for b in range(blocks):
        inp = h
        for r in range(1, 4):
            xs = [h]
            for k in range(1, 5):
                xs.append(lrelu(c(f"body.{b}.rdb{r}.conv{k}", torch.cat(xs, 1))))
            h = c(f"body.{b}.rdb{r}.conv5", torch.cat(xs, 1)) * 0.2 + h
        h = h * 0.2 + inp
    f = fea + c("conv_body", h)
    for u in (1, 2):
        f = lrelu(c(f"conv_up{u}", F.interpolate(f, scale_factor=2, mode="nearest")))
    return c("conv_last", lrelu(c("conv_hr", f)))


def pad_to(x, multiple, minimum):
    """spandrel's size-requirement padding: right/bottom, reflect as far as it goes, then replicate."""
    h, w = x.shape[-2:]
    nh = -(-max(h, minimum) // multiple) * multiple
    nw = -(-max(w, minimum) // multiple) * multiple
    ph, pw = nh - h, nw - w
    if ph or pw:
        rh, rw = min(ph, h - 1), min(pw, w - 1)
        x = F.pad(x, (0, rw, 0, rh), "reflect")
        x = F.pad(x, (0, pw - rw, 0, ph - rh), "replicate")
    return x


def check():
    worst = 0.0
    for model, shuffle, cases in [("rrdb-x4", 1, ["esr_in24"]), ("rrdb-x2-unshuffle", 2, ["esr_in24", "esr_in17x23"])]:
        sd = load_safetensors(GOLDENS + f"models/{model}-new.safetensors")
        for case in cases:
            g = load_safetensors(GOLDENS + f"goldens/{model}_{case}.safetensors")
            x = g["input"]
            h, w = x.shape[-2:]
            scale = 4 // shuffle
            with torch.no_grad():
                y = rrdbnet(sd, pad_to(x, 4 if shuffle > 1 else 1, 4 if shuffle > 1 else 2), 1, shuffle)[..., : h * scale, : w * scale]
            ref = g["output_raw"]
            err = float((y - ref).abs().max() / ref.abs().max())
            worst = max(worst, err)
            print(f"esrgan peer: {model} {case}: max|err|/max|ref| = {err:.2e}", file=sys.stderr)
    if worst > 1e-4:
        sys.exit(f"esrgan peer: does not match the goldens ({worst:.2e} > 1e-4)")


def random_rrdb(blocks=23, feat=64, growth=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, cout, cin):
        sd[name + ".weight"] = torch.randn((cout, cin, 3, 3), generator=g) * (0.1 * math.sqrt(2.0 / (cin * 9)))
        sd[name + ".bias"] = torch.zeros(cout)

    conv("conv_first", feat, 3)
    for b in range(blocks):
        for r in range(1, 4):
            for k in range(1, 5):
                conv(f"body.{b}.rdb{r}.conv{k}", growth, feat + (k - 1) * growth)
            conv(f"body.{b}.rdb{r}.conv5", feat, feat + 4 * growth)
    for n in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(n, feat, feat)
    conv("conv_last", 3, feat)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        check()
        return
    sd = random_rrdb()
    x = torch.rand((1, 3, a.size, a.size), generator=torch.Generator().manual_seed(1))
    if a.precision == "bf16":
        sd = {k: v.bfloat16() for k, v in sd.items()}
        x = x.bfloat16()
    times, cpu = [], []
    with torch.no_grad():
        for _ in range(a.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            y = rrdbnet(sd, x, 23, 1).clamp(0, 1)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print(json.dumps({"side": "pytorch", "precision": a.precision, "size": a.size, "tile": 0, "seconds": min(times),
                      "cpu_seconds": min(cpu), "runs": times, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "out": list(y.shape), "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
