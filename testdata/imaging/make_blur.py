"""Writes blur.safetensors: InvokeAI 6.12's img_blur (version 1.2.2) computed with Pillow 9.4.0 and numpy 1.24.2
on two small pictures, for the Gaussian and box blurs at several radii. The node's steps, as InvokeAI performs
them: the picture as RGBA; colour channels premultiplied by alpha with ImageChops.multiply (alpha kept);
Pillow's GaussianBlur or BoxBlur of all four channels; colour divided by (alpha/255 + 1e-6) in float32,
clipped to [0, 255] and truncated to uint8; alpha as blurred. Also Pillow's plain blurs of the RGBA picture
(`pil.*`), which the blur primitives must match on their own.

Run in this folder with Debian bookworm's /usr/bin/python3: /usr/bin/python3 make_blur.py
"""
import json
import struct

import numpy as np
import PIL
from PIL import Image, ImageChops, ImageFilter

rng = np.random.default_rng(5)
h, w = 23, 29
rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
rgba[2:9, 3:12, 3] = 0      # a transparent block, its colours arbitrary
rgba[12:20, 15:27, 3] = 255  # an opaque block
rgba[5:18, 20:24, :3] = 250  # a bright bar across both
rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
rgb[8:15, :, :] = 255
pictures = {"rgba": Image.fromarray(rgba, "RGBA"), "rgb": Image.fromarray(rgb, "RGB")}


def img_blur(picture, radius, kind):
    im = picture.convert("RGBA")
    alpha = im.getchannel("A")
    pre = ImageChops.multiply(im, alpha.convert("RGBA"))
    pre.putalpha(alpha)
    f = ImageFilter.GaussianBlur(radius) if kind == "gaussian" else ImageFilter.BoxBlur(radius)
    blurred = np.array(pre.filter(f))
    a = blurred[..., 3].astype(np.float32) / 255.0
    out = blurred.copy()
    for c in range(3):
        v = blurred[..., c].astype(np.float32)
        v /= a + 1e-6
        out[..., c] = np.uint8(np.clip(v, 0, 255))
    return out


t = {"in.rgba": rgba, "in.rgb": rgb}
for name, pic in pictures.items():
    for r in [0.0, 0.5, 2.5, 8.0, 40.0]:
        t[f"img_blur.{name}.gaussian.{r:g}"] = img_blur(pic, r, "gaussian")
    for r in [0.0, 1.0, 2.7, 50.0]:
        t[f"img_blur.{name}.box.{r:g}"] = img_blur(pic, r, "box")
for r in [0.5, 2.5, 8.0, 40.0]:
    t[f"pil.gaussian.{r:g}"] = np.array(pictures["rgba"].filter(ImageFilter.GaussianBlur(r)))
for r in [1.0, 2.7, 50.0]:
    t[f"pil.box.{r:g}"] = np.array(pictures["rgba"].filter(ImageFilter.BoxBlur(r)))
# Pillow's multiply of two 8-bit values, every pair.
x, y = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
t["multiply"] = np.array(ImageChops.multiply(Image.fromarray(x, "L"), Image.fromarray(y, "L")))

header, data, off = {"__metadata__": {"pillow": PIL.__version__, "numpy": np.__version__}}, b"", 0
for name in sorted(t):
    b = np.ascontiguousarray(t[name]).tobytes()
    header[name] = {"dtype": "U8", "shape": list(t[name].shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
hd = json.dumps(header).encode()
hd += b" " * ((8 - len(hd) % 8) % 8)
with open("blur.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hd)) + hd + data)
