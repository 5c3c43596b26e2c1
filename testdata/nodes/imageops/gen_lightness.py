"""Writes lightness.safetensors: inputs and expected outputs of invokego's invokeai_ealightness node
(internal/nodes/imageops), computed as InvokeAI 6.12's node computes them: Pillow's LAB conversion, then its
PyTorch arithmetic (torchvision's ToTensor and to_pil_image written out).

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2, python3-torch):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_lightness.py
Arrays are uint8: H×W "L", H×W×3 "RGB", H×W×4 "RGBA".
"""
import json
import struct
from math import pi as PI

import numpy as np
import torch
from PIL import Image

rng = np.random.default_rng(13)
T = {}
H, W = 20, 28
yy, xx = np.mgrid[0:H, 0:W]
rgb = np.stack([xx * 9 % 256, yy * 13 % 256, (xx * 5 + yy * 7) % 256], -1).astype(np.uint8)
rgb[12:18, 3:9] = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
rgba = np.concatenate([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.full((H, W, 1), 200, np.uint8)], -1)
grey = ((xx * 11 + yy * 3) % 256).astype(np.uint8)
big = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # a large sum, where float32 rounding shows
T.update({"in.rgb": rgb, "in.rgba": rgba, "in.grey": grey, "in.big": big})


def to_tensor(img):
    a = np.array(img, dtype=np.uint8)
    return torch.from_numpy(a.reshape(a.shape[0], a.shape[1], -1)).permute(2, 0, 1).float().div(255)


for name in ["rgb", "rgba", "grey", "big"]:
    image_in = Image.fromarray(T["in." + name])
    if image_in.mode == "L":
        image_in = image_in.convert("RGB")
    lab = image_in.convert("LAB")
    l_tensor = to_tensor(lab.getchannel("L"))
    l_max, l_min = torch.ones(l_tensor.shape), torch.zeros(l_tensor.shape)
    a_tensor = to_tensor(lab.getchannel("A")) * 2.0 - 1.0
    b_tensor = to_tensor(lab.getchannel("B")) * 2.0 - 1.0
    c_tensor = torch.sqrt(torch.add(torch.pow(a_tensor, 2.0), torch.pow(b_tensor, 2.0)))
    h_tensor = torch.atan2(b_tensor, a_tensor)
    k = [0.1644, 0.0603, 0.1307, 0.0060]
    h_minus_90 = torch.sub(h_tensor, PI / 2.0)
    h_minus_90 = torch.sub(torch.remainder(torch.add(h_minus_90, 3 * PI), 2 * PI), PI)
    f_by = torch.add(k[0] * torch.abs(torch.sin(torch.div(h_minus_90, 2.0))), k[1])
    f_r_0 = torch.add(k[2] * torch.abs(torch.cos(h_tensor)), k[3])
    f_r = torch.zeros(l_tensor.shape)
    mask = torch.logical_and(torch.ge(h_tensor, -1 * (PI / 2.0)), torch.le(h_tensor, PI / 2.0))
    f_r[mask] = f_r_0[mask]
    adj = torch.tensordot(torch.add(f_by, f_r), c_tensor, dims=([1, 2], [1, 2]))
    l_max, l_min = torch.add(l_max, adj), torch.add(l_min, adj)
    t = torch.add(l_tensor, adj)
    t = torch.div(torch.sub(t, l_min.min()), l_max.max() - l_min.min())
    T[f"ealightness.{name}"] = t.mul(255).byte().permute(1, 2, 0).numpy()[:, :, 0]
    T[f"lab_l.{name}"] = np.array(lab.getchannel("L"))

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("lightness.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(len(T), "arrays", off, "bytes")
