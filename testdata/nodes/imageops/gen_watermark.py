"""Writes watermark.safetensors: inputs and expected outputs of invokego's img_watermark node
(internal/nodes/imageops), computed as InvokeAI 6.12's node computes them, with the invisible-watermark
encoder InvokeAI vendors (invokeai/backend/image_util/imwatermark/vendor.py at tag v6.12.0; not kept here).

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0, python3-pywt 1.1.1):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_watermark.py /path/to/vendor.py
Arrays are uint8 H×W×3 "RGB"; the node's result is opaque RGBA, and only its colours are kept here.
"""
import importlib.util
import json
import struct
import sys

import cv2
import numpy as np
from PIL import Image

spec = importlib.util.spec_from_file_location("vendor", sys.argv[1])
vendor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vendor)

rng = np.random.default_rng(3)
T = {}
H, W = 257, 259  # 66563 pixels, just above the encoder's 256×256 minimum, and not multiples of 4
yy, xx = np.mgrid[0:H, 0:W]
smooth = np.stack([(xx * 255 // W), (yy * 255 // H), ((xx + yy) * 255 // (W + H))], -1).astype(np.uint8)
noisy = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
noisy[:40] = rng.choice([0, 1, 254, 255], (40, W, 3)).astype(np.uint8)  # saturated colours
T["in.smooth"], T["in.noisy"] = smooth, noisy
T["in.wide"] = rng.integers(0, 256, (240, 280, 3), dtype=np.uint8)

for name, text in [("smooth", "InvokeAI"), ("noisy", "InvokeAI"), ("noisy", "h\u00e9llo, w\u00f6rld"), ("wide", "InvokeAI")]:
    image = Image.fromarray(T["in." + name])
    bgr = cv2.cvtColor(np.array(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    encoder = vendor.WatermarkEncoder()
    encoder.set_watermark("bytes", text.encode("utf-8"))
    out = Image.fromarray(cv2.cvtColor(encoder.encode(bgr, "dwtDct"), cv2.COLOR_BGR2RGB)).convert("RGBA")
    assert np.all(np.array(out)[..., 3] == 255)
    T[f"watermark.{name}.{text.encode('utf-8').hex()}"] = np.array(out)[..., :3]

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("watermark.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
