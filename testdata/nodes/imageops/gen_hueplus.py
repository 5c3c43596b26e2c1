"""Writes hueplus.safetensors: inputs and expected outputs of invokego's invokeai_img_hue_adjust_plus node
(internal/nodes/imageops/hueplus.go), computed the way InvokeAI 6.12's node computes them: its float32 PyTorch
arithmetic rewritten in NumPy float32 (the colour helpers of gen_blend.py), Pillow for HSV and mode
conversions, ImageCms (LittleCMS) for CIELAB with the node's transforms.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_hueplus.py
Arrays are uint8: H×W "L", H×W×3 "RGB", H×W×4 "RGBA".
"""
import json
import struct
from math import pi as PI

import numpy as np
from PIL import Image, ImageCms

from gen_blend import (FROM_LAB, TO_LAB, F, chw, lin_from_oklab, lin_from_srgb, oklab_from_lin, okhsl_from_srgb,
                       okhsv_from_srgb, srgb_from_lin, srgb_from_okhsl, srgb_from_okhsv, to_byte)

SPACES = ["HSV / HSL / RGB", "Okhsl", "Okhsv", "*Oklch / Oklab", "*LCh / CIELab"]


def fmod(x, m):
    r = np.fmod(x, F(m))
    return np.where((r != 0) & (r < 0), r + F(m), r)


def hue_plus(img, space, degrees, preserve=False, gamut=0.05, hp=True):
    steps = 3 if hp else 1
    sp = space.split()[0].lower().strip("*")
    mode = img.mode
    alpha = None
    if mode in ("RGBA", "LA"):
        alpha = img.getchannel("A")
        mode = {"RGBA": "RGB", "LA": "L"}[mode]
    img = img.convert("RGB")
    chan_l = None
    if preserve or sp == "lch":
        lab = ImageCms.applyTransform(img, TO_LAB)
        chan_l, chan_a, chan_b = lab.getchannel("L"), lab.getchannel("A"), lab.getchannel("B")
    shift = F(degrees) / F(360)
    rot = F(degrees / 180.0 * PI)
    rgb = chw(img)
    if sp == "hsv":
        t = chw(img.convert("HSV"))
        t[0] = fmod(t[0] + shift, 1.0)
        out = Image.fromarray(to_byte(t).transpose(1, 2, 0), "HSV").convert("RGB")
    elif sp == "okhsl":
        t = okhsl_from_srgb(rgb)
        t[0] = fmod(t[0] + shift, 1.0)
        out = Image.fromarray(to_byte(srgb_from_okhsl(t, 0.0, 1)).transpose(1, 2, 0), "RGB")
    elif sp == "okhsv":
        t = okhsv_from_srgb(rgb, steps)
        t[0] = fmod(t[0] + shift, 1.0)
        out = Image.fromarray(to_byte(srgb_from_okhsv(t, 0.0, 1)).transpose(1, 2, 0), "RGB")
    elif sp == "oklch":
        lab = oklab_from_lin(lin_from_srgb(rgb))
        c = np.sqrt(lab[1] * lab[1] + lab[2] * lab[2])
        h = np.arctan2(lab[2], lab[1]) + rot
        h = fmod(h + F(2 * PI), 2 * PI)
        lab = np.stack([lab[0], c * np.cos(h), c * np.sin(h)])
        out = Image.fromarray(to_byte(srgb_from_lin(lin_from_oklab(lab), gamut, steps)).transpose(1, 2, 0), "RGB")
    else:  # lch
        a = chw(chan_a)[0] * F(2) - F(1)
        b = chw(chan_b)[0] * F(2) - F(1)
        c = np.sqrt(a * a + b * b)
        h = np.arctan2(b, a) + rot
        h = fmod(h + F(PI), 2 * PI) - F(PI)
        a_img = Image.fromarray(to_byte((c * np.cos(h) + F(1)) / F(2)), "L")
        b_img = Image.fromarray(to_byte((c * np.sin(h) + F(1)) / F(2)), "L")
        out = ImageCms.applyTransform(Image.merge("LAB", (chan_l, a_img, b_img)), FROM_LAB)
    if preserve and sp != "lch":
        lab = ImageCms.applyTransform(out, TO_LAB)
        out = ImageCms.applyTransform(Image.merge("LAB", (chan_l, lab.getchannel("A"), lab.getchannel("B"))), FROM_LAB)
    out = out.convert(mode)
    if alpha is not None:
        out = Image.merge(mode + "A", tuple(out.getchannel(c) for c in mode) + (alpha,))
    return np.array(out)


def main():
    rng = np.random.default_rng(31)
    T = {}
    H, W = 12, 16
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx * 17 % 256, yy * 23 % 256, (xx * 7 + yy * 11) % 256], -1).astype(np.uint8)
    rgb[2:8, 3:11] = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    rgb[0, :5] = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0], [0, 0, 255]]
    rgba = np.concatenate([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (xx * 16 % 256)[:, :, None].astype(np.uint8)], -1)
    grey = ((xx * 13 + yy * 5) % 256).astype(np.uint8)
    T.update({"in.rgb": rgb, "in.rgba": rgba, "in.grey": grey})
    ims = {"rgb": Image.fromarray(rgb), "rgba": Image.fromarray(rgba), "grey": Image.fromarray(grey)}
    cases = []
    for space in SPACES:
        for deg in [0.0, 45.0, -120.0, 200.5]:
            cases.append(dict(image="rgb", space=space, degrees=deg))
        cases.append(dict(image="rgb", space=space, degrees=90.0, preserve=True))
        cases.append(dict(image="rgba", space=space, degrees=30.0))
        cases.append(dict(image="grey", space=space, degrees=60.0))
        cases.append(dict(image="rgba", space=space, degrees=-60.0, preserve=True))
    for g, hp in [(0.0, True), (0.5, True), (0.05, False)]:
        cases.append(dict(image="rgb", space="*Oklch / Oklab", degrees=150.0, gamut=g, hp=hp))
    for space in ["Okhsl", "Okhsv"]:
        cases.append(dict(image="rgb", space=space, degrees=75.0, hp=False))
    for c in cases:
        name = "hue|%s|%s|%g|%d|%g|%d" % (c["image"], c["space"], c["degrees"], c.get("preserve", False),
                                          c.get("gamut", 0.05), c.get("hp", True))
        T[name] = hue_plus(ims[c["image"]], c["space"], c["degrees"], c.get("preserve", False), c.get("gamut", 0.05),
                           c.get("hp", True))
    header, data, off = {}, b"", 0
    for name, arr in T.items():
        b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open("hueplus.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    print(len(T), "arrays", off, "bytes")


if __name__ == "__main__":
    main()
