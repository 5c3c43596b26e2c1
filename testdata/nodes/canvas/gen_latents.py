"""Writes latents.safetensors: inputs and expected outputs of create_gradient_mask and lblend (internal/nodes/
diffusion), computed as InvokeAI 6.12's nodes compute them with Pillow, OpenCV and NumPy. InvokeAI's 2-D
maximum filter runs in PyTorch on float32 tensors (each weight rounded to float32); it is written here with
NumPy float32 arrays, which round the same way.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0):
    cd testdata/nodes/canvas && /usr/bin/python3 gen_latents.py
"""
import json
import struct

import cv2
import numpy as np
from PIL import Image

T = {}
H, W = 60, 76  # not multiples of 8: the latent-scale mask is 9×7
yy, xx = np.mgrid[0:H, 0:W]
mask = np.full((H, W), 255, np.uint8)
mask[14:40, 22:50] = 0  # the area to repaint is black
mask[((yy - 50) ** 2 + (xx - 11) ** 2) < 60] = 100
mask[0:8, 62:76] = 30
T["in.mask"] = mask


def gradient(mask, edge_radius, mode, minimum_denoise):
    m = Image.fromarray(mask, "L")
    small = m.resize((m.width // 8, m.height // 8), resample=Image.BILINEAR)
    orig = np.array(small, dtype=np.float32)
    r = edge_radius // 8
    if r > 0:
        inv = 255 - orig
        n = 2 * r + 1
        if mode == "Box Blur":
            kernel = np.zeros((n, n), dtype=np.float32)
            for i in range(n):
                for j in range(n):
                    d = np.sqrt((i - r) ** 2 + (j - r) ** 2)
                    if d <= r:
                        kernel[i, j] = 1.0 - (d / r)
        else:
            g = cv2.getGaussianKernel(n, r / 2.5)
            kernel = g * g.T
            kernel = kernel / np.max(kernel)
            for i in range(n):
                for j in range(n):
                    if np.sqrt((i - r) ** 2 + (j - r) ** 2) > r:
                        kernel[i, j] = 0
        padded = np.pad(inv, ((r, r), (r, r)))
        grown = np.zeros_like(inv)
        for i in range(n):
            for j in range(n):
                wgt = kernel[i, j]
                if wgt <= 0:
                    continue
                grown = np.maximum(grown, padded[i:i + inv.shape[0], j:j + inv.shape[1]] * np.float32(wgt))
        dil = (255 - grown).astype(np.float32)
        thr = (1 - minimum_denoise) * 255
        if mode == "Staged":
            tm = (dil < orig) & (orig > thr)
            dil = np.where(tm, thr, orig)
        tm = (dil > thr) & (dil < 255)
        dil = np.where(tm, thr, dil)
    else:
        dil = orig.copy()
    levels = np.clip(dil, 0, 255).astype(np.uint8)
    area = Image.fromarray(np.where(levels < 255, 0, 255).astype(np.uint8), "L")
    area = area.resize((small.width * 8, small.height * 8), resample=Image.NEAREST)
    big = Image.fromarray(levels).resize((small.width * 8, small.height * 8), resample=Image.NEAREST)
    return np.array(big), np.array(area)  # the mask tensor is these levels / 255


cases = [(0, "Gaussian Blur", 0.0)] + [(r, m, md) for r in [16, 40] for m in ["Gaussian Blur", "Box Blur", "Staged"]
                                       for md in [0.0, 0.3]]
for r, mode, md in cases:
    key = f"gradient.{r}.{mode.split()[0]}.{md}"
    T[key + ".mask"], T[key + ".area"] = gradient(mask, r, mode, md)

# lblend's spherical interpolation without a mask (NumPy float32, as InvokeAI's slerp).
rng = np.random.default_rng(3)
a = rng.standard_normal((1, 4, 6, 5)).astype(np.float32)
b = rng.standard_normal((1, 4, 6, 5)).astype(np.float32)
T["in.latents_a"], T["in.latents_b"] = a, b


def slerp(t, v0, v1):
    dot = np.sum(v0 * v1 / (np.linalg.norm(v0) * np.linalg.norm(v1)))
    if np.abs(dot) > 0.9995:
        return (1 - t) * v0 + t * v1
    theta_0 = np.arccos(dot)
    sin_theta_0 = np.sin(theta_0)
    theta_t = theta_0 * t
    s0 = np.sin(theta_0 - theta_t) / sin_theta_0
    s1 = np.sin(theta_t) / sin_theta_0
    return s0 * v0 + s1 * v1


for t in [0.0, 0.3, 0.5, 1.0, 1.7]:
    T[f"slerp.{t}"] = slerp(t, a, b).astype(np.float32)
T["slerp.near.0.25"] = slerp(0.25, a, a * np.float32(1.0001)).astype(np.float32)

header, data, off = {}, b"", 0
for name, arr in T.items():
    arr = np.ascontiguousarray(arr)
    dt = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}[arr.dtype]
    bts = arr.tobytes()
    header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(bts)]}
    data += bts
    off += len(bts)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("latents.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
