"""Writes resize.safetensors: Pillow's Image.resize outputs that internal/engine/imaging reproduces.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2): /usr/bin/python3 make_resize.py
"""
import json
import struct

import numpy as np
from PIL import Image

rng = np.random.default_rng(7)
tensors = {}
rgb = rng.integers(0, 256, size=(23, 37, 3), dtype=np.uint8)
# A smooth ramp plus noise, so that both flat and busy areas are exercised.
yy, xx = np.mgrid[0:30, 0:20]
gray = np.clip(xx * 9 + yy * 3 + rng.integers(-20, 21, size=(30, 20)), 0, 255).astype(np.uint8)
tensors["rgb"] = rgb
tensors["gray"] = gray
filters = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "box": Image.BOX, "hamming": Image.HAMMING}
cases = [
    ("rgb", "bicubic", 61, 40), ("rgb", "bicubic", 13, 9), ("rgb", "bicubic", 37, 50), ("rgb", "lanczos", 50, 71),
    ("rgb", "lanczos", 16, 16), ("rgb", "bilinear", 29, 17), ("rgb", "box", 11, 30), ("rgb", "hamming", 45, 12),
    ("gray", "bicubic", 7, 11), ("gray", "lanczos", 64, 64),
]
for src, filt, w, h in cases:
    mode = "RGB" if src == "rgb" else "L"
    out = np.array(Image.fromarray(tensors[src], mode).resize((w, h), resample=filters[filt]))
    tensors[f"{src}.{filt}.{w}x{h}"] = out

header, data, off = {}, b"", 0
for name, arr in tensors.items():
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("resize.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
