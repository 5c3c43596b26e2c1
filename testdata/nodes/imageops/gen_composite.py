"""Writes composite.safetensors: inputs and expected outputs of invokego's invokeai_img_composite node
(internal/nodes/imageops), computed as InvokeAI 6.12's node computes them (the node's steps written out with
the same Pillow calls: ImageColor, ImageDraw.floodfill, ImageOps.pad / fit, ImageChops.offset,
Image.alpha_composite), and Pillow's ImageColor.getrgb of a set of colour specifiers.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_composite.py
Arrays are uint8 H×W×3 "RGB" or H×W×4 "RGBA"; colours are int64 (r, g, b[, a]).
"""
import json
import struct
from ast import literal_eval
from functools import reduce

import numpy as np
from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageOps

rng = np.random.default_rng(17)
T = {}
H, W = 30, 24
yy, xx = np.mgrid[0:H, 0:W]
subject = np.zeros((H, W, 3), np.uint8)
subject[:] = (20, 200, 30)  # a green backdrop
subject += rng.integers(0, 12, (H, W, 3), dtype=np.uint8)  # with some noise
body = ((yy - 15) ** 2 / 100 + (xx - 12) ** 2 / 36) < 1
subject[body] = rng.integers(0, 256, (body.sum(), 3), dtype=np.uint8)
subject[0:3, 0:5] = (200, 30, 30)  # a patch in one corner that the fill stops at
bg = np.stack([(xx * 7) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
bg_wide = np.tile(bg, (1, 2, 1))[:, :40]
bg_tall = np.tile(bg, (2, 1, 1))[:44]
T.update({"in.subject": subject, "in.bg": bg, "in.bg_wide": bg_wide, "in.bg_tall": bg_tall})


def composite(subject, background, chroma_key, threshold, fill_x, fill_y, x_offset, y_offset):
    image_background = Image.fromarray(background).convert(mode="RGBA")
    image_subject = Image.fromarray(subject).convert(mode="RGBA")
    chroma_key = chroma_key.strip()
    if 0 < len(chroma_key):
        if chroma_key[0] == "(":
            chroma_key = literal_eval(chroma_key)
            while len(chroma_key) < 3:
                chroma_key = tuple(list(chroma_key) + [0])
            if len(chroma_key) == 3:
                chroma_key = tuple(list(chroma_key) + [255])
        else:
            chroma_key = ImageColor.getcolor(chroma_key, "RGBA")
        thr = threshold ** 2.0
        pixels = image_subject.load()
        for i in range(image_subject.width):
            for j in range(image_subject.height):
                if reduce(lambda a, b: a + b, [(pixels[i, j][k] - chroma_key[k]) ** 2 for k in range(len(chroma_key))]) < thr:
                    pixels[i, j] = tuple([0 for k in range(len(chroma_key))])
    else:
        w, h = image_subject.width, image_subject.height
        for xy in [(0, 0), (0, h - 1), (w - 1, 0), (w - 1, h - 1)]:
            ImageDraw.floodfill(image_subject, xy, (0, 0, 0, 0), thresh=threshold)
    ab = image_background.width / image_background.height
    asub = image_subject.width / image_subject.height
    size = (image_background.width, image_background.height)
    if fill_x and fill_y:
        image_subject = image_subject.resize(size)
    elif (fill_x and (ab < asub)) or (fill_y and (asub <= ab)):
        image_subject = ImageOps.pad(image_subject, size, color=(0, 0, 0, 0))
    elif (fill_x and (asub <= ab)) or (fill_y and (ab < asub)):
        image_subject = ImageOps.fit(image_subject, size)
    if x_offset != 0 or y_offset != 0:
        image_subject = ImageChops.offset(image_subject, x_offset, yoffset=-1 * y_offset)
    return np.array(Image.alpha_composite(image_background, image_subject))


CASES = [("bg", "", 50, False, True, 0, 0), ("bg", "", 10, True, True, 3, -2), ("bg_wide", "", 50, False, True, 0, 0),
         ("bg_wide", "#14c81e", 40, True, False, 0, 0), ("bg_tall", "(20, 200, 30)", 30, False, True, -5, 4),
         ("bg_tall", "rgb(20,200,30)", 25, True, False, 0, 0), ("bg", "lime", 200, False, False, 2, 2),
         ("bg_wide", "hsl(120, 80%, 45%)", 60, True, True, 0, 0)]
for bgname, key, thr, fx, fy, xo, yo in CASES:
    T[f"composite.{bgname}.{key}.{thr}.{int(fx)}{int(fy)}.{xo}.{yo}"] = composite(
        T["in.subject"], T["in." + bgname], key, thr, fx, fy, xo, yo)

COLORS = ["red", "LimeGreen", "rebeccapurple", "#abc", "#abcd", "#a1b2c3", "#A1B2C3D4", "rgb(1, 2, 300)",
          "rgb(10%, 50%, 100%)", "hsl(200, 50%, 40%)", "hsl(359.5, 100%, 50.5%)", "hsv(33, 70%, 80%)",
          "hsb(300.25, 12%, 99%)", "rgba(1,2,3,4)"]
for c in COLORS:
    T["color." + c] = np.array(ImageColor.getrgb(c), np.int64)

header, data, off = {}, b"", 0
for name, arr in T.items():
    dt = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}[arr.dtype]
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("composite.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
