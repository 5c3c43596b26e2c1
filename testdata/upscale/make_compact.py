#!/usr/bin/python3
"""Builds the tiny Real-ESRGAN compact (SRVGGNetCompact) models and their goldens in this folder.

Plain torch (Debian's python3-torch 1.13), no spandrel: the network is written out from its published
structure — conv3x3 + PReLU, num_conv × (conv3x3 + PReLU), a last conv3x3 to out·scale² channels, a
pixel shuffle, plus the nearest-upsampled input. The 8-bit output is InvokeAI's truncation
(clamp(y, 0, 1)·255 cast to uint8). Run from the repository root: /usr/bin/python3 testdata/upscale/make_compact.py
"""
import json
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = "testdata/upscale/"
INPUTS = "testdata/sd-ext/esrgan/inputs/"


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.float32: "F32", np.uint8: "U8"}[a.dtype.type]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_model(seed, feat, num_conv, scale):
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(i, cout, cin):
        sd[f"body.{i}.weight"] = torch.randn((cout, cin, 3, 3), generator=g) * (1.0 / (cin * 9) ** 0.5)
        sd[f"body.{i}.bias"] = torch.randn((cout,), generator=g) * 0.05

    def prelu(i):
        sd[f"body.{i}.weight"] = torch.rand((feat,), generator=g) * 0.5  # per-channel slopes in [0, 0.5)

    conv(0, feat, 3)
    prelu(1)
    for k in range(num_conv):
        conv(2 + 2 * k, feat, feat)
        prelu(3 + 2 * k)
    conv(2 + 2 * num_conv, 3 * scale * scale, feat)
    return sd


def forward(sd, x, num_conv, scale):
    h = F.prelu(F.conv2d(x, sd["body.0.weight"], sd["body.0.bias"], padding=1), sd["body.1.weight"])
    for k in range(num_conv):
        c = 2 + 2 * k
        h = F.prelu(F.conv2d(h, sd[f"body.{c}.weight"], sd[f"body.{c}.bias"], padding=1), sd[f"body.{c+1}.weight"])
    c = 2 + 2 * num_conv
    h = F.conv2d(h, sd[f"body.{c}.weight"], sd[f"body.{c}.bias"], padding=1)
    return F.pixel_shuffle(h, scale) + F.interpolate(x, scale_factor=scale, mode="nearest")


for name, seed, feat, num_conv, scale in [("compact-x4", 1, 8, 2, 4), ("compact-x2", 2, 8, 1, 2)]:
    sd = make_model(seed, feat, num_conv, scale)
    write_safetensors(ROOT + name + ".safetensors", {k: v.numpy() for k, v in sd.items()})
    for inp in ["esr_in17x23", "esr_in24"]:
        img = np.array(Image.open(INPUTS + inp + ".png").convert("RGB"))
        x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float() / 255
        with torch.no_grad():
            raw = forward(sd, x, num_conv, scale)
        out = raw.clamp(0, 1)
        u8 = (out[0].permute(1, 2, 0) * 255).to(torch.uint8)
        write_safetensors(ROOT + f"{name}_{inp}.safetensors", {
            "input": x.numpy(), "output_raw": raw.numpy(), "output": out.numpy(), "uint8_trunc": u8.numpy()})
        print(name, inp, tuple(raw.shape), "outside [0,1]:", float(((raw < 0) | (raw > 1)).float().mean()))
