"""Writes imageops.safetensors: inputs and expected outputs of invokego's image, mask and bounding-box nodes
(internal/nodes/imageops), computed the way InvokeAI 6.12's nodes compute them, with the same Pillow, OpenCV and
NumPy calls.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_imageops.py
Arrays are uint8: H×W is an "L" image, H×W×3 "RGB", H×W×4 "RGBA"; int64 arrays hold numbers (bounding boxes).
"""
import json
import struct

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageOps

rng = np.random.default_rng(7)
T = {}
H, W = 20, 28
yy, xx = np.mgrid[0:H, 0:W]

rgb = np.stack([xx * 9 % 256, yy * 13 % 256, (xx * 5 + yy * 7) % 256], -1).astype(np.uint8)
rgb[12:18, 3:9] = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
rgb2 = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
rgba = np.concatenate([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.full((H, W, 1), 255, np.uint8)], -1)
rgba[5:12, 6:18, 3] = 0
rgba[2:4, 2:26, 3] = 100
rgba[16:20, 0:7, 3] = 0
grey = ((xx * 11 + yy * 3) % 256).astype(np.uint8)
mask = np.zeros((H, W), np.uint8)
mask[4:15, 5:21] = 255
mask[((yy - 15) ** 2 + (xx - 5) ** 2) < 10] = 170
mask[0:2, 24:28] = 60
# A reference for histogram matching: darker, bluer, with fewer distinct levels.
ref = (rng.integers(0, 256, (H + 4, W - 6, 3)) * np.array([0.5, 0.7, 1.0])).astype(np.uint8) // 3 * 3
ids = np.zeros((H, W, 4), np.uint8)
ids[..., 3] = 255
ids[:, :10] = (200, 30, 30, 255)
ids[:, 10:19] = (30, 200, 30, 255)
ids[:, 19:] = (30, 30, 200, 255)
ids[8:12] = (205, 60, 70, 255)
ids[14:16, 4:24, 3] = 0
sparse = np.zeros((H, W, 4), np.uint8)
sparse[3:9, 7:15] = (255, 255, 255, 255)
sparse[11, 20] = (255, 255, 255, 255)
sparse[15:18, 2:4] = (255, 255, 255, 128)
T.update({"in.rgb": rgb, "in.rgb2": rgb2, "in.rgba": rgba, "in.grey": grey, "in.mask": mask, "in.ref": ref,
          "in.ids": ids, "in.sparse": sparse, "in.empty": np.zeros((H, W, 4), np.uint8)})
pil = {k[3:]: Image.fromarray(v) for k, v in T.items()}
SRC = ["rgb", "rgba", "grey"]

# tomask: the last band, optionally inverted.
for s in SRC:
    for inv in [False, True]:
        m = pil[s].split()[-1]
        T[f"tomask.{s}.{int(inv)}"] = np.array(ImageOps.invert(m) if inv else m)

# mask_combine: ImageChops.multiply of the two as "L".
for a, b in [("mask", "rgb"), ("rgba", "grey")]:
    T[f"mask_combine.{a}.{b}"] = np.array(ImageChops.multiply(pil[a].convert("L"), pil[b].convert("L")))

# mask_from_id: the Euclidean RGBA distance to the colour below the threshold.
for name, color, thr, inv in [("red", (200, 30, 30, 255), 100, False), ("red.tight", (200, 30, 30, 255), 20, False),
                              ("green.inv", (30, 200, 30, 255), 100, True), ("blue.0", (30, 30, 200, 255), 0, False)]:
    img = pil["ids"].convert("RGBA")
    d = np.linalg.norm(img - np.array(color), axis=-1)
    m = Image.fromarray((d < thr).astype(np.uint8) * 255)
    T[f"mask_from_id.{name}"] = np.array(ImageOps.invert(m) if inv else m)

# img_ilerp: float32 arithmetic, truncated to uint8 the way NumPy casts (through int32 on x86-64).
for s in SRC:
    for lo, hi in [(0, 255), (40, 200), (200, 40)]:
        a = np.asarray(pil[s], dtype=np.float32)
        with np.errstate(all="ignore"):
            a = np.minimum(np.maximum(a - lo, 0) / float(hi - lo), 1) * 255
        T[f"ilerp.{s}.{lo}.{hi}"] = np.array(Image.fromarray(np.uint8(a)))

# img_pad_crop: pasted at (left, top) onto a transparent RGBA canvas.
for s in SRC:
    for l, r, t, b in [(3, 5, 2, 0), (-4, -3, -2, -6), (6, -10, -5, 4)]:
        img = pil[s]
        out = Image.new("RGBA", (img.width + l + r, img.height + t + b), (0, 0, 0, 0))
        out.paste(img, (l, t))
        T[f"pad_crop.{s}.{l}.{r}.{t}.{b}"] = np.array(out)

# crop_image_to_bounding_box: Image.crop of the box, or of getbbox() without one.
for s in ["rgb", "rgba", "grey", "sparse", "mask"]:
    img = pil[s]
    T[f"crop_bbox.{s}.auto"] = np.array(img.crop(img.getbbox()))
    T[f"crop_bbox.{s}.box"] = np.array(img.crop((-3, 4, 12, 25)))

# paste_image_into_bounding_box: both RGBA, the source pasted through its own alpha.
for src, dst, x, y in [("rgba", "rgb", 0, 0), ("sparse", "rgba", 5, -3), ("rgb2", "grey", 10, 6)]:
    s = pil[src].convert("RGBA").crop((0, 0, 16, 12))
    d = pil[dst].convert("RGBA")
    d.paste(s, (x, y, x + 16, y + 12), s)
    T[f"paste_bbox.{src}.{dst}"] = np.array(d)

# get_image_mask_bounding_box: inclusive maxima, the margin clipped to the image.
for s, color, margin in [("sparse", (255, 255, 255, 255), 0), ("sparse", (255, 255, 255, 255), 3),
                         ("sparse", (255, 255, 255, 128), 1), ("ids", (30, 200, 30, 255), 2), ("ids", (1, 2, 3, 4), 0)]:
    m = np.array(pil[s].convert("RGBA"))
    y, x = np.where(np.all(m == color, axis=-1))
    if len(x) == 0:
        box = [0, 0, 0, 0]
    else:
        box = [max(0, x.min() - margin), max(0, y.min() - margin), min(m.shape[1], x.max() + margin),
               min(m.shape[0], y.max() + margin)]
    T[f"mask_bbox.{s}.{'_'.join(map(str, color))}.{margin}"] = np.array(box, np.int64)

CHANNELS = {"Red (RGBA)": ("RGBA", 0), "Green (RGBA)": ("RGBA", 1), "Blue (RGBA)": ("RGBA", 2),
            "Alpha (RGBA)": ("RGBA", 3), "Cyan (CMYK)": ("CMYK", 0), "Magenta (CMYK)": ("CMYK", 1),
            "Yellow (CMYK)": ("CMYK", 2), "Black (CMYK)": ("CMYK", 3), "Hue (HSV)": ("HSV", 0),
            "Saturation (HSV)": ("HSV", 1), "Value (HSV)": ("HSV", 2), "Luminosity (LAB)": ("LAB", 0),
            "A (LAB)": ("LAB", 1), "B (LAB)": ("LAB", 2), "Y (YCbCr)": ("YCbCr", 0), "Cb (YCbCr)": ("YCbCr", 1),
            "Cr (YCbCr)": ("YCbCr", 2)}

# img_channel_offset and img_channel_multiply on every channel.
for ch, (mode, i) in CHANNELS.items():
    for s in ["rgba", "rgb"]:
        image = pil[s].convert("RGBA")
        for off in [-70, 90]:
            a = np.array(image.convert(mode)).astype(int)
            c = a[:, :, i]
            c = (c + off) % 256 if ch == "Hue (HSV)" else np.clip(c + off, 0, 255)
            a[:, :, i] = c
            out = Image.fromarray(a.astype(np.uint8), mode=mode).convert("RGBA")
            if ch != "Alpha (RGBA)":
                out.putalpha(image.getchannel("A"))
            T[f"chan_offset.{s}.{ch}.{off}"] = np.array(out)
        for scale, inv in [(0.6, False), (1.7, True)]:
            a = np.array(image.convert(mode)).astype(float)
            c = np.clip(a[:, :, i] * scale, 0, 255)
            if inv:
                c = 255 - c
            a[:, :, i] = c
            out = Image.fromarray(a.astype(np.uint8), mode=mode).convert("RGBA")
            if ch != "Alpha (RGBA)":
                out.putalpha(image.getchannel("A"))
            T[f"chan_mul.{s}.{ch}.{scale}.{int(inv)}"] = np.array(out)

# img_hue_adjust: HSV hue rotated by int(256 * (hue % 360) / 360), back to RGBA.
for s in SRC:
    for hue in [0, 45, 200, -30, 725]:
        hsv = np.array(pil[s].convert("HSV"))
        hsv[:, :, 0] = (hsv[:, :, 0] + int(256 * ((hue % 360) / 360))) % 256
        T[f"hue.{s}.{hue}"] = np.array(Image.fromarray(hsv, mode="HSV").convert("RGBA"))


# color_correct: histogram matching through CDFs and numpy.interp.
def match(source, reference):
    sh, _ = np.histogram(source.flatten(), bins=256, range=(0, 256))
    rh, _ = np.histogram(reference.flatten(), bins=256, range=(0, 256))
    sc, rc = sh.cumsum(), rh.cumsum()
    if sc[-1] > 0:
        sc = sc / sc[-1]
    if rc[-1] > 0:
        rc = rc / rc[-1]
    return np.interp(sc, rc, np.arange(256))[source].astype(np.uint8)


for base in ["rgba", "rgb", "grey"]:
    for space in ["RGB", "YCbCr", "YCbCr-Chroma", "YCbCr-Luma"]:
        for use_mask in [False, True]:
            b = pil[base].convert("RGBA")
            alpha = b.getchannel("A")
            if space == "RGB":
                ba, ra, chans = np.asarray(b.convert("RGB")), np.asarray(pil["ref"].convert("RGB")), [0, 1, 2]
            else:
                ba, ra = np.asarray(b.convert("YCbCr")), np.asarray(pil["ref"].convert("YCbCr"))
                chans = {"YCbCr": [0, 1, 2], "YCbCr-Chroma": [1, 2], "YCbCr-Luma": [0]}[space]
            c = ba.copy()
            for i in chans:
                c[:, :, i] = match(ba[:, :, i], ra[:, :, i])
            out = Image.fromarray(c, mode="YCbCr").convert("RGB") if space != "RGB" else Image.fromarray(c, mode="RGB")
            if use_mask:
                out = out.copy()
                out.paste(b.convert("RGB"), mask=pil["mask"].convert("L"))
            out = out.convert("RGBA")
            out.putalpha(alpha)
            T[f"color_correct.{base}.{space}.{int(use_mask)}"] = np.array(out)

# invokeai_img_enhance: ImageOps.invert, then ImageEnhance's Color, Contrast, Brightness, Sharpness.
for s in SRC:
    for inv, color, contrast, brightness, sharpness in [(False, 0.3, 1, 1, 1), (False, 1, 1.8, 1, 1),
                                                        (False, 1, 1, 0.55, 1), (False, 1, 1, 1, 2.5),
                                                        (False, 1, 1, 1, 0.2), (True, 1.5, 0.7, 1.3, 1.6),
                                                        (False, 2.2, 0, 1, 1), (True, 1, 1, 1, 1)]:
        out = pil[s]
        if inv:
            if out.mode not in ("L", "RGB"):
                out = out.convert("RGB")
            out = ImageOps.invert(out)
        if color != 1:
            out = ImageEnhance.Color(out).enhance(color)
        if contrast != 1:
            out = ImageEnhance.Contrast(out).enhance(contrast)
        if brightness != 1:
            out = ImageEnhance.Brightness(out).enhance(brightness)
        if sharpness != 1:
            out = ImageEnhance.Sharpness(out).enhance(sharpness)
        T[f"enhance.{s}.{int(inv)}.{color}.{contrast}.{brightness}.{sharpness}"] = np.array(out)

header, data, off = {}, b"", 0
for name, arr in T.items():
    dt = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}[arr.dtype]
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("imageops.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
