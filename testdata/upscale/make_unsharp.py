#!/usr/bin/python3
"""Goldens for unsharp_mask: InvokeAI's UnsharpMaskInvocation formula run with Debian's Pillow 9.4 and numpy
(out = a + (a - blur(a))·strength/100 on [0, 1] floats, clipped, ·255 truncated to uint8, blur = PIL's
ImageFilter.GaussianBlur(radius)). Run from the repository root with /usr/bin/python3.
Writes unsharp_in.png (a 37×29 RGBA test picture) and unsharp.safetensors: one uint8 HWC tensor per case,
named r<radius>_s<strength>, for the RGB conversion of the input (the alpha channel is passed through)."""
import json
import struct

import numpy as np
import PIL
from PIL import Image, ImageFilter

ROOT = "testdata/upscale/"
w, h = 37, 29
y, x = np.mgrid[0:h, 0:w]
rgba = np.zeros((h, w, 4), np.uint8)
rgba[..., 0] = (x * 255 // (w - 1)).astype(np.uint8)
rgba[..., 1] = ((np.sin(x / 3.0) * np.cos(y / 4.0) * 0.5 + 0.5) * 255).astype(np.uint8)
rgba[..., 2] = np.where((x // 5 + y // 5) % 2 == 0, 230, 20).astype(np.uint8)
rgba[..., 3] = (128 + (y * 127 // (h - 1))).astype(np.uint8)
rgba[10:14, 20:30, :3] = 255  # a bright bar: strong edges
Image.fromarray(rgba, "RGBA").save(ROOT + "unsharp_in.png")

img = Image.open(ROOT + "unsharp_in.png")
rgb = img.convert("RGB")
out = {}
for radius in [2.0, 0.5, 7.3, 40.0]:
    for strength in [50.0, 150.0, 0.0]:
        a = np.array(rgb) / 255
        blurred = np.array(rgb.filter(ImageFilter.GaussianBlur(radius=radius))) / 255
        a += (a - blurred) * (strength / 100.0)
        a = np.clip(a, 0, 1)
        out[f"r{radius:g}_s{strength:g}"] = (a * 255).astype("uint8")

header, blobs, off = {"__metadata__": {"pillow": PIL.__version__, "numpy": np.__version__}}, [], 0
for name in sorted(out):
    b = np.ascontiguousarray(out[name]).tobytes()
    header[name] = {"dtype": "U8", "shape": list(out[name].shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
hb = json.dumps(header, separators=(",", ":")).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
with open(ROOT + "unsharp.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for b in blobs:
        f.write(b)
print("pillow", PIL.__version__, "numpy", np.__version__, len(out), "cases")
