"""Writes ops.safetensors: what Pillow and OpenCV compute for the pixel operations behind invokego's mask,
canvas and infill nodes (internal/engine/imaging, internal/engine/inpaint).

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0):
    cd testdata/nodes/canvas && /usr/bin/python3 gen_ops.py
"""
import json
import struct

import cv2
import numpy as np
from PIL import Image, ImageFilter

rng = np.random.default_rng(13)
T = {}


def put(name, arr):
    T[name] = np.ascontiguousarray(arr)


# Inputs: random RGBA, a smooth gray ramp with noise, and binary blob masks.
rgba = rng.integers(0, 256, size=(17, 23, 4), dtype=np.uint8)
yy, xx = np.mgrid[0:29, 0:37]
gray = np.clip(xx * 6 + yy * 2 + rng.integers(-30, 31, size=(29, 37)), 0, 255).astype(np.uint8)
blobs = np.zeros((29, 37), np.uint8)
blobs[5:14, 4:20] = 255
blobs[18:26, 22:33] = 255
blobs[((yy - 20) ** 2 + (xx - 8) ** 2) < 20] = 255
put("in.rgba", rgba)
put("in.gray", gray)
put("in.blobs", blobs)

# PIL GaussianBlur / BoxBlur.
for r in [0.5, 1, 2.5, 8, 30]:
    put(f"gauss.rgba.{r}", np.array(Image.fromarray(rgba, "RGBA").filter(ImageFilter.GaussianBlur(r))))
    put(f"gauss.gray.{r}", np.array(Image.fromarray(gray, "L").filter(ImageFilter.GaussianBlur(r))))
for r in [0, 0.7, 3, 40]:
    put(f"box.rgba.{r}", np.array(Image.fromarray(rgba, "RGBA").filter(ImageFilter.BoxBlur(r))))
    put(f"box.gray.{r}", np.array(Image.fromarray(gray, "L").filter(ImageFilter.BoxBlur(r))))

# cv2.erode / cv2.dilate with a square kernel of ones and three iterations (canvas_paste_back's erosion).
for k in [1, 2, 3, 5, 8]:
    kernel = np.ones((k, k), np.uint8)
    put(f"erode.gray.{k}", cv2.erode(gray, kernel, iterations=3))
    put(f"erode.rgba.{k}", cv2.erode(rgba, kernel, iterations=3))
    put(f"dilate.gray.{k}", cv2.dilate(gray, kernel, iterations=3))

# cv2.distanceTransform(DIST_L2, 5) (expand_mask_with_fade).
bg = (blobs == 0).astype(np.uint8)  # nonzero outside the blobs: distance to the nearest blob pixel
put("dist.blobs", cv2.distanceTransform(1 - bg, cv2.DIST_L2, 5))
put("dist.bg", cv2.distanceTransform(bg, cv2.DIST_L2, 5))
put("dist.ones", cv2.distanceTransform(np.ones((5, 7), np.uint8), cv2.DIST_L2, 5))

# cv2.inpaint(INPAINT_TELEA, radius 3) on BGR images (infill_cv2, cv_inpaint). Masks: blobs inside, a
# region touching the top and left edges, thin lines, a hole in a smooth ramp, and everything unknown.
smooth = np.stack([np.clip(xx * 7, 0, 255), np.clip(yy * 8, 0, 255), np.clip(255 - xx * 3 - yy * 2, 0, 255)], -1)
smooth = smooth.astype(np.uint8)
noisy = rng.integers(0, 256, size=(29, 37, 3), dtype=np.uint8)
edge = np.zeros((29, 37), np.uint8)
edge[0:6, 0:9] = 255
edge[10:13, 0:37] = 255
lines = np.zeros((29, 37), np.uint8)
lines[:, 17] = 255
lines[7, 3:30] = 255
hole = np.zeros((29, 37), np.uint8)
hole[8:22, 10:30] = 255
put("in.smooth", smooth)
put("in.noisy", noisy)
put("in.edge", edge)
put("in.lines", lines)
put("in.hole", hole)
put("in.full", np.full((29, 37), 255, np.uint8))
for img in ["smooth", "noisy"]:
    for m in ["blobs", "edge", "lines", "hole", "full"]:
        put(f"telea.{img}.{m}", cv2.inpaint(T["in." + img], T["in." + m], 3, cv2.INPAINT_TELEA))
put("telea.noisy.hole.r1", cv2.inpaint(noisy, hole, 1, cv2.INPAINT_TELEA))
put("telea.smooth.hole.r6", cv2.inpaint(smooth, hole, 6, cv2.INPAINT_TELEA))

dtypes = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float64): "F64"}
header, data, off = {}, b"", 0
for name, arr in T.items():
    b = arr.tobytes()
    header[name] = {"dtype": dtypes[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("ops.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
