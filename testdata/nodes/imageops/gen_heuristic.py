"""Writes heuristic.safetensors: inputs and expected outputs of invokego's heuristic_resize node
(internal/nodes/imageops), computed as InvokeAI 6.12's heuristic_resize_fast computes them
(invokeai/app/util/controlnet_utils.py), with OpenCV's calls written out as InvokeAI makes them.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0 with the contrib modules):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_heuristic.py
Arrays are uint8 H×W×3 "RGB". Every input has at most 100000 pixels, so InvokeAI's random sample of pixels is
all of them (its choice is then only an order) and the result does not depend on NumPy's global generator.
"""
import json
import struct

import cv2
import numpy as np
from PIL import Image

DIRS = [np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], np.uint8), np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]], np.uint8),
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.uint8), np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.uint8)]
K3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


def heuristic(img, size):
    h, w = img.shape[:2]
    if (w, h) == size:
        return img
    flat = img.reshape(-1, img.shape[-1])
    uc = np.unique(flat, axis=0).shape[0]
    vmin, vmax = flat.min(), flat.max()
    is_binary = uc == 2 and vmin < 16 and vmax > 240
    one_pixel_edge = False
    if is_binary:
        gray0 = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        grad = cv2.morphologyEx(gray0, cv2.MORPH_GRADIENT, K3)
        one_pixel_edge = 2 * cv2.countNonZero(grad) > cv2.countNonZero((gray0 > 127).astype(np.uint8))
    if 2 < uc < 200:
        interp = cv2.INTER_NEAREST
    elif size[0] * size[1] < w * h:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_CUBIC
    resized = cv2.resize(img, size, interpolation=interp)
    if is_binary:
        gray_r = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
        nms = np.zeros_like(gray_r)
        for k in DIRS:
            d = cv2.dilate(gray_r, k)
            m = d == gray_r
            nms[m] = gray_r[m]
        _, bw = cv2.threshold(nms, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = cv2.ximgproc.thinning(bw) if one_pixel_edge else bw
        resized = np.stack([out] * 3, axis=2)
    return resized


rng = np.random.default_rng(5)
T = {}
H, W = 60, 84
yy, xx = np.mgrid[0:H, 0:W]
photo = np.stack([(xx * 3 + yy) % 256, (yy * 4) % 256, (xx * yy) % 256], -1).astype(np.uint8)
photo[20:40, 30:60] = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
seg = np.zeros((H, W, 3), np.uint8)
palette = rng.integers(0, 256, (6, 3), dtype=np.uint8)
seg[:] = palette[((xx // 14) + (yy // 20)) % 6]
edges = cv2.Canny(cv2.GaussianBlur(photo, (5, 5), 0), 40, 120)
edges = np.stack([edges] * 3, -1)
blobs = np.zeros((H, W), np.uint8)
blobs[10:30, 10:40] = 255
blobs[((yy - 40) ** 2 + (xx - 60) ** 2) < 150] = 255
blobs = np.stack([blobs] * 3, -1)
T.update({"in.photo": photo, "in.seg": seg, "in.edges": edges, "in.blobs": blobs})

for name in ["photo", "seg", "edges", "blobs"]:
    for size in [(42, 30), (28, 20), (55, 41), (120, 90), (84, 60), (100, 45)]:
        T[f"heuristic.{name}.{size[0]}x{size[1]}"] = np.array(
            Image.fromarray(heuristic(np.array(Image.fromarray(T["in." + name]).convert("RGB")), size)))

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("heuristic.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
