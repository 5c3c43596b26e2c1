#!/usr/bin/python3
"""Goldens for InvokeAI's legacy esrgan node (RealESRGAN tiling, after Real-ESRGAN's RealESRGANer): the
input is reflect-padded 10 pixels right and bottom (and to an even size for x2 models), cut into a grid of
tile x tile tiles each run with 10 pixels of context, cropped back, clamped and rounded to uint8. Plain torch
(Debian's python3-torch 1.13) with the RRDBNet forward written out (as in bench/esrgan_torch.py), on the
sd-ext ESRGAN fixtures. Run from the repository root with /usr/bin/python3. Writes realesrgan.safetensors:
one uint8 HWC tensor per case, <model>_<input>_tile<N>."""
import json
import math
import struct
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, "bench")
from esrgan_torch import load_safetensors, rrdbnet  # noqa: E402

E = "testdata/sd-ext/esrgan/"


def realesrgan(sd, shuffle, scale, img, tile):
    x = torch.from_numpy(np.transpose(img.astype(np.float32) / 255, (2, 0, 1))).unsqueeze(0)
    x = torch.nn.functional.pad(x, (0, 10, 0, 10), "reflect")
    mph = mpw = 0
    if scale == 2:
        _, _, h, w = x.shape
        mph, mpw = (2 - h % 2) % 2, (2 - w % 2) % 2
        x = torch.nn.functional.pad(x, (0, mpw, 0, mph), "reflect")
    net = lambda t: rrdbnet(sd, t, 1, shuffle)
    with torch.no_grad():
        if tile == 0:
            out = net(x)
        else:
            _, c, h, w = x.shape
            out = x.new_zeros((1, c, h * scale, w * scale))
            tx, ty = math.ceil(w / tile), math.ceil(h / tile)
            for i in range(tx * ty):
                y0, x0 = (i // tx) * tile, (i % tx) * tile
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                py0, px0 = max(y0 - 10, 0), max(x0 - 10, 0)
                py1, px1 = min(y1 + 10, h), min(x1 + 10, w)
                o = net(x[:, :, py0:py1, px0:px1])
                oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
                out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = o[:, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale]
    _, _, h, w = out.shape
    out = out[:, :, : h - mph * scale, : w - mpw * scale]
    _, _, h, w = out.shape
    out = out[:, :, : h - 10 * scale, : w - 10 * scale]
    o = out.squeeze(0).clamp(0, 1).numpy().transpose(1, 2, 0)
    return (o * 255.0).round().astype(np.uint8)


cases = {}
for model, shuffle, scale, inp, tiles in [("rrdb-x4", 1, 4, "esr_in40", [0, 16]), ("rrdb-x2-unshuffle", 2, 2, "esr_in17x23", [0, 8])]:
    sd = load_safetensors(E + f"models/{model}-new.safetensors")
    img = np.array(Image.open(E + f"inputs/{inp}.png").convert("RGB"))
    for tile in tiles:
        cases[f"{model}_{inp}_tile{tile}"] = realesrgan(sd, shuffle, scale, img, tile)

header, blobs, off = {}, [], 0
for name in sorted(cases):
    b = np.ascontiguousarray(cases[name]).tobytes()
    header[name] = {"dtype": "U8", "shape": list(cases[name].shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
hb = json.dumps(header, separators=(",", ":")).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
with open("testdata/upscale/realesrgan.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for b in blobs:
        f.write(b)
print({k: v.shape for k, v in cases.items()})
