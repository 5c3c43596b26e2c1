"""Writes filters.safetensors: inputs and expected outputs of invokego's mask_edge, img_noise,
invokeai_img_dilate_erode and invokeai_img_val_thresholds nodes (internal/nodes/imageops), computed the way
InvokeAI 6.12's nodes compute them, with the same Pillow, OpenCV, NumPy and PyTorch calls.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, OpenCV 4.6.0, torch 1.13 from python3-torch):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_filters.py
Arrays are uint8: H×W is an "L" image, H×W×3 "RGB", H×W×4 "RGBA".
"""
import json
import struct

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

rng = np.random.default_rng(9)
T = {}
H, W = 20, 28
yy, xx = np.mgrid[0:H, 0:W]

rgb = np.stack([xx * 9 % 256, yy * 13 % 256, (xx * 5 + yy * 7) % 256], -1).astype(np.uint8)
rgb[12:18, 3:9] = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
rgba = np.concatenate([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.full((H, W, 1), 255, np.uint8)], -1)
rgba[5:12, 6:18, 3] = 0
rgba[2:4, 2:26, 3] = 100
grey = ((xx * 11 + yy * 3) % 256).astype(np.uint8)
mask = np.zeros((H, W), np.uint8)
mask[4:15, 5:21] = 255
mask[((yy - 15) ** 2 + (xx - 5) ** 2) < 10] = 170
mask[0:2, 24:28] = 60
small_mask = np.zeros((9, 13), np.uint8)
small_mask[2:7, 3:11] = 255
T.update({"in.rgb": rgb, "in.rgba": rgba, "in.grey": grey, "in.mask": mask, "in.small_mask": small_mask,
          "in.rgb8": rgb[:16, :24].copy(), "in.rgba8": rgba[:16, :24].copy()})
pil = {k[3:]: Image.fromarray(v) for k, v in T.items()}

# mask_edge: the gradient term plus Canny (uint8, wrapping), dilated, box-blurred, inverted.
for s in ["mask", "rgb", "grey"]:
    for size, blur, lo, hi in [(4, 2, 100, 200), (7, 0, 50, 150), (0, 3, 10, 20), (-3, 1, 200, 100)]:
        m = pil[s].convert("L")
        a = np.asarray(m, dtype=np.uint8)
        g = np.uint8(255 * (1.0 - np.floor(np.abs(0.5 - np.float32(a) / 255.0) * 2.0)))
        e = cv2.Canny(a, threshold1=lo, threshold2=hi)
        out = cv2.dilate(g + e, np.ones((3, 3), np.uint8), iterations=int(size / 2))
        out = Image.fromarray(out)
        if blur > 0:
            out = out.filter(ImageFilter.BoxBlur(blur))
        T[f"mask_edge.{s}.{size}.{blur}.{lo}.{hi}"] = np.array(ImageOps.invert(out))

# img_noise: RandomState(MT19937(SeedSequence(seed))), normal or choice, nearest upscale, blend, mask paste.
for s in ["rgba", "rgb"]:
    for kind, color, size, amount, seed, m in [("gaussian", True, 1, 0.1, 0, None), ("gaussian", False, 3, 0.5, 123, None),
                                               ("salt_and_pepper", True, 1, 0.3, 7, None),
                                               ("salt_and_pepper", False, 2, 0.05, 4294967295, None),
                                               ("gaussian", True, 2, 0.8, 42, "mask"),
                                               ("salt_and_pepper", True, 1, 0.5, 1, "small_mask")]:
        image = pil[s].convert("RGBA")
        alpha = image.getchannel("A")
        rs = np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed)))
        shape = (image.height // size, image.width // size)
        if kind == "gaussian":
            noise = rs.normal(0, 1, shape + (3,) if color else shape) * 255
        else:
            noise = rs.choice([0, 255], shape + (3,) if color else shape, p=[1 - amount, amount])
        if not color:
            noise = np.stack([noise] * 3, axis=-1)
        noise = Image.fromarray(noise.astype(np.uint8), mode="RGB").resize((image.width, image.height), Image.Resampling.NEAREST)
        noisy = Image.blend(image.convert("RGB"), noise, amount).convert("RGBA")
        if m is not None:
            mi = pil[m].convert("L")
            if mi.size != image.size:
                mi = mi.resize(image.size, Image.Resampling.LANCZOS)
            out = image.copy()
            out.paste(noisy, (0, 0), mask=ImageOps.invert(mi))
        else:
            out = noisy
        out.putalpha(alpha)
        T[f"noise.{s}.{kind}.{int(color)}.{size}.{amount}.{seed}.{m}"] = np.array(out)


def lab_wrap(image_in, fn):
    """InvokeAI's lightness_only path: fn on the LAB lightness, the mode and alpha restored."""
    mode = image_in.mode
    alpha = image_in.getchannel("A") if mode in ("RGBA", "LA") else None
    mode = {"RGBA": "RGB", "LA": "L"}.get(mode, mode)
    lab = image_in.convert("RGB").convert("LAB")
    l_channel = fn(lab.getchannel("L"))
    out = Image.merge("LAB", (l_channel, lab.getchannel("A"), lab.getchannel("B")))
    if mode == "L":
        out = out.convert("RGB")
    out = out.convert(mode)
    if alpha is not None:
        out = Image.merge(image_in.mode, tuple([out.getchannel(c) for c in mode] + [alpha]))
    return out


# invokeai_img_dilate_erode: an elliptical element (2w+1)×(2h+1), one pass.
def morph(img, rw, rh, mode):
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (rw * 2 + 1, rh * 2 + 1))
    fn = cv2.dilate if mode == "Dilate" else cv2.erode
    return Image.fromarray(fn(np.array(img), k, iterations=1), mode=img.mode)


for s in ["rgb", "rgba", "grey", "mask"]:
    for rw, rh in [(4, 4), (0, 3), (5, 1), (0, 0), (9, 6)]:
        for mode in ["Dilate", "Erode"]:
            T[f"dilate_erode.{s}.{rw}.{rh}.{mode}.0"] = np.array(morph(pil[s], rw, rh, mode))
    if s != "mask":
        T[f"dilate_erode.{s}.3.2.Dilate.1"] = np.array(lab_wrap(pil[s], lambda l: morph(l, 3, 2, "Dilate")))


# invokeai_img_val_thresholds: torchvision's Lanczos resize to a multiple of 8 and ToTensor, the thresholds,
# to_pil_image.
def to_grid_tensor(img):
    w, h = img.width - img.width % 8, img.height - img.height % 8
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.array(img, dtype=np.uint8).reshape(h, w, -1)).permute(2, 0, 1).float().div(255)


def thresholds(t, upper, lower, invert, renorm):
    t = t.clone()
    ones, zeros = torch.ones(t.shape), torch.zeros(t.shape)
    if invert:
        zm, om = torch.ge(t, upper), torch.lt(t, lower)
    else:
        om, zm = torch.ge(t, upper), torch.lt(t, lower)
    if upper != lower:
        m = torch.logical_and(torch.ge(t, lower), torch.lt(t, upper))
        if t[m].numel() > 0 and renorm:
            vmax, vmin = max(upper, lower), min(upper, lower)
            if invert:
                t[m] = torch.sub(1.0, (t[m] - vmin) / (vmax - vmin))
            else:
                t[m] = (t[m] - vmin) / (vmax - vmin)
    t[om] = ones[om]
    t[zm] = zeros[zm]
    return t


def to_pil(t):
    a = t.mul(255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)


for s in ["rgb", "rgba", "grey", "rgb8", "rgba8"]:
    for upper, lower, inv, renorm in [(0.5, 0.5, False, False), (0.7, 0.3, False, True), (0.7, 0.3, True, True),
                                      (0.7, 0.3, True, False), (0.3, 0.7, False, True), (0.5, 0.5, True, False)]:
        key = f"val_thresholds.{s}.{upper}.{lower}.{int(inv)}.{int(renorm)}"
        T[key + ".0"] = np.array(to_pil(thresholds(to_grid_tensor(pil[s]), upper, lower, inv, renorm)))
        if s in ("rgb8", "rgba8"):
            T[key + ".1"] = np.array(lab_wrap(pil[s], lambda l: to_pil(thresholds(to_grid_tensor(l), upper, lower, inv, renorm))))

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("filters.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
