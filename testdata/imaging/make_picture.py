"""Writes picture.safetensors: Pillow's mode conversions and its resize of images with alpha and with the
nearest filter, which internal/engine/imaging's Picture reproduces.

Run in this folder with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2): /usr/bin/python3 make_picture.py

Names: "src.<mode>" are the inputs; "conv.<from>.<to>" is Image.convert; "resize.<mode>.<filter>.<w>x<h>" is
Image.resize of the LA and L pictures.
"""
import json
import struct

import numpy as np
from PIL import Image

rng = np.random.default_rng(11)
tensors = {}


def pixels(im):
    """The bytes Pillow holds. np.asarray packs LAB's a and b as signed bytes; Pillow stores them offset by
    128, which is what getchannel (and so InvokeAI's nodes) see."""
    if im.mode == "LAB":
        return np.stack([np.asarray(im.getchannel(c)) for c in "LAB"], axis=-1)
    return np.asarray(im)


W, H = 19, 13
rgba = rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
# Alpha with fully transparent, fully opaque and partial pixels.
rgba[..., 3] = rng.choice([0, 255, 1, 128, 200, 254], size=(H, W))
rgba[0, :4, 3] = [0, 255, 77, 3]
srcs = {
    "RGBA": Image.fromarray(rgba, "RGBA"),
    "RGB": Image.fromarray(rgba[..., :3].copy(), "RGB"),
    "L": Image.fromarray(rgba[..., 0].copy(), "L"),
    "LA": Image.fromarray(rgba[..., 0::3].copy(), "LA"),
}
# Every byte value in each channel of an RGB ramp, so that table conversions are checked everywhere.
ramp = np.zeros((16, 16 * 3, 3), dtype=np.uint8)
v = np.arange(256, dtype=np.uint8).reshape(16, 16)
ramp[:, 0:16, 0], ramp[:, 16:32, 1], ramp[:, 32:48, 2] = v, v, v
ramp[:, 0:16, 1], ramp[:, 16:32, 2], ramp[:, 32:48, 0] = v[::-1], v.T, 255 - v.T
srcs["RGBramp"] = Image.fromarray(ramp, "RGB")
srcs["CMYK"] = Image.fromarray(rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8), "CMYK")
srcs["YCbCr"] = Image.fromarray(rng.integers(0, 256, size=(16, 48, 3), dtype=np.uint8), "YCbCr")
hsv = rng.integers(0, 256, size=(16, 48, 3), dtype=np.uint8)
hsv.reshape(-1, 3)[:256, 0] = np.arange(256)
hsv[0, :8, 1] = 0
srcs["HSV"] = Image.fromarray(hsv, "HSV")
# LAB as InvokeAI's nodes make it: an RGB image's conversion with the lightness changed.
lab = srcs["RGB"].convert("LAB")
srcs["LAB"] = Image.merge("LAB", (Image.fromarray(rng.integers(0, 256, size=(H, W), dtype=np.uint8), "L"),
                                  lab.getchannel("A"), lab.getchannel("B")))
for name, im in srcs.items():
    tensors[f"src.{name}"] = pixels(im)

conversions = {
    "RGBA": ["L", "LA", "RGB", "CMYK", "YCbCr", "HSV", "LAB"],
    "RGB": ["L", "LA", "RGBA", "CMYK", "YCbCr", "HSV", "LAB"],
    "RGBramp": ["L", "YCbCr", "HSV", "CMYK", "LAB"],
    "L": ["LA", "RGB", "RGBA", "CMYK", "YCbCr", "HSV"],
    "LA": ["L", "RGB", "RGBA", "CMYK", "YCbCr", "HSV"],
    "CMYK": ["RGB", "RGBA", "HSV", "L"],
    "YCbCr": ["L", "LA", "RGB", "RGBA", "HSV"],
    "HSV": ["RGB", "RGBA", "L"],
    "LAB": ["RGB"],
}
for src, targets in conversions.items():
    for dst in targets:
        tensors[f"conv.{src}.{dst}"] = pixels(srcs[src].convert(dst))

filters = {"nearest": Image.NEAREST, "box": Image.BOX, "bilinear": Image.BILINEAR, "hamming": Image.HAMMING,
           "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
sizes = [(41, 29), (7, 5), (19, 31), (3, 13), (64, 1)]
# RGBA and RGB pictures are covered by resize_nodes.safetensors (make_resize_nodes.py).
for mode in ("LA", "L"):
    for i, (fname, f) in enumerate(filters.items()):
        for w, h in (sizes if mode == "LA" or fname == "nearest" else sizes[i % len(sizes):][:1]):
            tensors[f"resize.{mode}.{fname}.{w}x{h}"] = np.asarray(srcs[mode].resize((w, h), f))

header, data, off = {}, b"", 0
for name, arr in tensors.items():
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("picture.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
