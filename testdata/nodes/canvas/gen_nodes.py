"""Writes nodes.safetensors: inputs and expected outputs of invokego's canvas, mask and infill nodes
(internal/nodes/canvas), computed the way InvokeAI 6.12's nodes compute them, with the same Pillow, OpenCV and
NumPy calls.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0):
    cd testdata/nodes/canvas && /usr/bin/python3 gen_nodes.py
Arrays are uint8: H×W is an "L" image, H×W×3 "RGB", H×W×4 "RGBA".
"""
import json
import struct

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

rng = np.random.default_rng(21)
T = {}
H, W = 24, 32
yy, xx = np.mgrid[0:H, 0:W]

rgb = np.stack([xx * 8 % 256, yy * 10 % 256, (xx * 3 + yy * 5) % 256], -1).astype(np.uint8)
rgb2 = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
rgba = np.concatenate([rgb2, np.full((H, W, 1), 255, np.uint8)], -1)
rgba[6:16, 8:22, 3] = 0  # a transparent hole
rgba[4:6, 4:28, 3] = 128  # a half-transparent band
rgba[20:24, 0:10, 3] = 0  # transparent at the border
mask = np.zeros((H, W), np.uint8)
mask[5:17, 7:25] = 255
mask[((yy - 18) ** 2 + (xx - 6) ** 2) < 12] = 180
mask[0:3, 26:32] = 90
mask_rgba = np.stack([mask, mask, mask, np.full_like(mask, 255)], -1)
T["in.rgb"], T["in.rgb2"], T["in.rgba"], T["in.mask"], T["in.mask_rgba"] = rgb, rgb2, rgba, mask, mask_rgba

pil = {k[3:]: Image.fromarray(v) for k, v in T.items()}

# apply_mask_to_image: the "L" mask (inverted or not) becomes the alpha channel of the RGBA image.
for name, img, m, inv in [("rgb.mask", "rgb", "mask", False), ("rgb.mask.inv", "rgb", "mask", True),
                          ("rgba.mask_rgba", "rgba", "mask_rgba", False)]:
    lm = pil[m].convert("L")
    if inv:
        lm = ImageOps.invert(lm)
    r, g, b, _ = pil[img].convert("RGBA").split()
    T[f"apply_mask.{name}"] = np.array(Image.merge("RGBA", (r, g, b, lm)))

# expand_mask_with_fade: threshold, distance to the black region, the fitted cubic.
for thr in [0, 100]:
    for fade in [0, 1, 3, 8, 32]:
        m = np.array(pil["mask"].convert("L"))
        if fade == 0:
            T[f"fade.{thr}.{fade}"] = m
            continue
        m = np.where(m > thr, 255, 0).astype(np.uint8)
        black = (m == 0).astype(np.uint8)
        dist = cv2.distanceTransform(1 - black, cv2.DIST_L2, 5)
        t = np.clip(dist / fade, 0, 1)
        curve = np.poly1d(np.polyfit(np.array([0.0, 1.0 / fade, 0.2, 0.8, 1.0]), np.array([0.0, 0.0, 0.2, 0.9, 1.0]), 3))
        f = np.clip(np.where(t >= 1.0, 1.0, curve(t)), 0, 1)
        T[f"fade.{thr}.{fade}"] = np.where(black == 1, 0, (f * 255).astype(np.uint8)).astype(np.uint8)


def prepared(m, blur):
    if blur > 0:
        eroded = Image.fromarray(cv2.erode(np.array(m), np.ones((blur, blur), np.uint8), iterations=3))
        m = eroded.filter(ImageFilter.GaussianBlur(blur))
    return ImageOps.invert(m.convert("L"))


# canvas_paste_back: the target pasted onto the source through the prepared mask.
for name, src, tgt, m, blur in [("rgb.0", "rgb", "rgb2", "mask", 0), ("rgb.2", "rgb", "rgb2", "mask", 2),
                                ("rgb.5", "rgb", "rgb2", "mask", 5), ("rgba.3", "rgba", "rgb", "mask_rgba", 3)]:
    out = pil[src].copy()
    out.paste(pil[tgt], (0, 0), prepared(pil[m], blur))
    T[f"paste_back.{name}"] = np.array(out)

# canvas_v2_mask_and_crop without a source: the prepared mask as the alpha channel.
for blur in [0, 4]:
    out = pil["rgb2"].copy()
    out.putalpha(prepared(pil["mask"], blur))
    T[f"mask_and_crop.{blur}"] = np.array(out)

# infill_rgba: the image composited over the colour, then pasted back through its alpha.
for name, color in [("default", (127, 127, 127, 255)), ("half", (10, 200, 30, 128))]:
    bg = Image.new("RGBA", pil["rgba"].size, color)
    out = Image.alpha_composite(bg, pil["rgba"])
    out.paste(pil["rgba"], (0, 0), pil["rgba"].split()[-1])
    T[f"infill_rgba.{name}"] = np.array(out)

# infill_tile: opaque grid tiles, drawn with default_rng(seed).integers, the image pasted over them.
for size, seed in [(4, 0), (7, 123), (3, 4294967295)]:
    a = np.array(pil["rgba"])
    pool = []
    for y in range(0, H - size + 1, size):
        for x in range(0, W - size + 1, size):
            tile = a[y:y + size, x:x + size]
            if np.all(tile[:, :, 3] == 255):
                pool.append(tile)
    g = np.random.default_rng(seed)
    filled = np.zeros((H, W, 3), np.uint8)
    for y in range(0, H, size):
        for x in range(0, W, size):
            tile = pool[g.integers(len(pool))]
            filled[y:y + size, x:x + size] = tile[:min(size, H - y), :min(size, W - x), :3]
    out = Image.fromarray(filled, "RGB")
    out.paste(pil["rgba"], (0, 0), pil["rgba"].split()[-1])
    T[f"infill_tile.{size}.{seed}"] = np.array(out)

# infill_cv2: Telea inpainting (radius 3) where the image is not fully opaque.
bgr = cv2.cvtColor(np.array(pil["rgba"].convert("RGB")), cv2.COLOR_RGB2BGR)
unknown = cv2.bitwise_not(cv2.cvtColor(np.array(pil["rgba"].split()[3].convert("RGB")), cv2.COLOR_BGR2GRAY))
T["infill_cv2"] = cv2.cvtColor(cv2.inpaint(bgr, unknown, 3, cv2.INPAINT_TELEA), cv2.COLOR_BGR2RGB)

# cv_inpaint: Telea inpainting where the mask is not white.
bgr = cv2.cvtColor(np.array(pil["rgb"].convert("RGB")), cv2.COLOR_RGB2BGR)
T["cv_inpaint"] = cv2.cvtColor(cv2.inpaint(bgr, np.array(ImageOps.invert(pil["mask"].convert("L"))), 3,
                                           cv2.INPAINT_TELEA), cv2.COLOR_BGR2RGB)

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("nodes.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
