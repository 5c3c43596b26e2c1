"""Writes resize_nodes.safetensors: InvokeAI 6.12's img_resize and img_scale (Pillow's Image.resize of the
picture in its own mode) computed with Pillow 9.4.0 on two small pictures, for every resampling mode InvokeAI
offers. Pillow resizes an RGBA picture with premultiplied alpha (except with "nearest"), an RGB one channel by
channel. Names: resize.<picture>.<mode>.<w>x<h>, uint8 HWC; the inputs are in.rgba and in.rgb.

Run in this folder with Debian bookworm's /usr/bin/python3: /usr/bin/python3 make_resize_nodes.py
"""
import json
import struct

import numpy as np
import PIL
from PIL import Image

rng = np.random.default_rng(9)
h, w = 23, 29
rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
rgba[2:9, 3:12, 3] = 0
rgba[12:20, 15:27, 3] = 255
rgba[::5, :, 3] = 1
rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
rgb[8:15, :, :] = 255
pictures = {"rgba": Image.fromarray(rgba, "RGBA"), "rgb": Image.fromarray(rgb, "RGB")}
modes = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
         "hamming": Image.Resampling.HAMMING, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
t = {"in.rgba": rgba, "in.rgb": rgb}
for name, pic in pictures.items():
    for mode, m in modes.items():
        for size in [(11, 9), (47, 31), (40, 10), (29, 50), (7, 23), (64, 64), (3, 2)]:
            t[f"resize.{name}.{mode}.{size[0]}x{size[1]}"] = np.array(pic.resize(size, resample=m))
header, data, off = {"__metadata__": {"pillow": PIL.__version__, "numpy": np.__version__}}, b"", 0
for name in sorted(t):
    b = np.ascontiguousarray(t[name]).tobytes()
    header[name] = {"dtype": "U8", "shape": list(t[name].shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
hd = json.dumps(header).encode()
hd += b" " * ((8 - len(hd) % 8) % 8)
with open("resize_nodes.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hd)) + hd + data)
