"""Writes cvresize.safetensors: OpenCV's INTER_CUBIC and INTER_NEAREST resizes that internal/engine/imaging
approximates (the color_map processor uses them). Run with Debian bookworm's /usr/bin/python3 (OpenCV 4.6.0,
numpy 1.24.2): /usr/bin/python3 make_cvresize.py
"""
import json
import struct

import cv2
import numpy as np

rng = np.random.default_rng(11)
img = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
t = {"rgb": img}
for w, h in [(8, 5), (53 // 16, 37 // 16), (20, 31), (70, 45)]:
    t[f"cubic.{w}x{h}"] = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    t[f"nearest.{w}x{h}"] = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
# InvokeAI's color_map processor at tile size 16: cubic shrink, nearest enlarge.
small = cv2.resize(img, (53 // 16, 37 // 16), interpolation=cv2.INTER_CUBIC)
t["color_map.16"] = cv2.resize(small, (53, 37), interpolation=cv2.INTER_NEAREST)
header, data, off = {}, b"", 0
for name, arr in t.items():
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
hd = json.dumps(header).encode()
hd += b" " * ((8 - len(hd) % 8) % 8)
with open("cvresize.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hd)) + hd + data)
