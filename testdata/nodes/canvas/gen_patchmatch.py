"""Writes patchmatch.safetensors: what pypatchmatch (the PatchMatch library InvokeAI's infill_patchmatch node
calls) makes of a few small images, for internal/engine/inpaint.

pypatchmatch is not packaged by Debian; it was built from the source of invoke-ai's PyPatchMatch
(github.com/mauwii/PyPatchMatch at 9564dc9, patchmatch/csrc) with the flags of its Makefile, against Debian
bookworm's OpenCV 4.6.0:
    g++ -std=c++14 -Ofast -ffast-math -w -fPIC -I/usr/include/opencv4 -Icsrc csrc/*.cpp -shared \
        -o libpatchmatch.so -lopencv_core -lopencv_imgproc -lopencv_imgcodecs -lopencv_highgui
(the library is not part of this repository). Then, with Debian's python3 and numpy 1.24.2:
    LIBPATCHMATCH=/path/to/libpatchmatch.so /usr/bin/python3 gen_patchmatch.py
The call is the one InvokeAI makes: PM_inpaint(rgb, mask, patch_size=3), random seed 1212.
"""
import ctypes
import json
import os
import struct

import numpy as np


class CShapeT(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("channels", ctypes.c_int)]


class CMatT(ctypes.Structure):
    _fields_ = [("data_ptr", ctypes.c_void_p), ("shape", CShapeT), ("dtype", ctypes.c_int)]


lib = ctypes.CDLL(os.environ["LIBPATCHMATCH"])
lib.PM_inpaint.argtypes = [CMatT, CMatT, ctypes.c_int]
lib.PM_inpaint.restype = CMatT
lib.PM_free_pymat.argtypes = [CMatT]


def mat(a):
    return CMatT(ctypes.cast(a.ctypes.data, ctypes.c_void_p), CShapeT(a.shape[1], a.shape[0], a.shape[2]), 0)


def inpaint(rgb, mask, patch):
    rgb = np.ascontiguousarray(rgb)
    m = np.ascontiguousarray(mask[..., None])
    r = lib.PM_inpaint(mat(rgb), mat(m), patch)
    shape = (r.shape.height, r.shape.width, r.shape.channels)
    out = np.ctypeslib.as_array(ctypes.cast(r.data_ptr, ctypes.POINTER(ctypes.c_uint8)), shape).copy()
    lib.PM_free_pymat(r)
    return out


rng = np.random.default_rng(5)
T = {}
yy, xx = np.mgrid[0:48, 0:64]
T["in.pattern"] = np.stack([(xx * 4) % 256, (yy * 5) % 256, ((xx // 4 + yy // 4) % 2) * 200], -1).astype(np.uint8)
T["in.noise"] = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
T["in.stripes"] = np.stack([((xx // 3) % 2) * 255, (yy * 3) % 256, np.full_like(xx, 90)], -1).astype(np.uint8)
T["in.tiny"] = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
hole = np.zeros((48, 64), np.uint8)
hole[10:30, 20:45] = 255
blob = np.zeros((48, 64), np.uint8)
blob[((yy - 30) ** 2 + (xx - 12) ** 2) < 60] = 200
blob[0:7, 50:64] = 1  # any nonzero value is unknown
corner = np.zeros((48, 64), np.uint8)
corner[30:48, 0:20] = 255
T["mask.hole"], T["mask.blob"], T["mask.corner"] = hole, blob, corner
tinymask = np.zeros((5, 6), np.uint8)
tinymask[1:3, 2:5] = 255
T["mask.tiny"] = tinymask
for img in ["pattern", "noise", "stripes"]:
    for m in ["hole", "blob", "corner"]:
        T[f"pm.{img}.{m}.3"] = inpaint(T["in." + img], T["mask." + m], 3)
T["pm.pattern.hole.2"] = inpaint(T["in.pattern"], T["mask.hole"], 2)
T["pm.tiny.tiny.3"] = inpaint(T["in.tiny"], T["mask.tiny"], 3)

# The infill_patchmatch node: pypatchmatch on the RGB channels with 255 - alpha as the mask, then the image
# pasted back through its alpha channel (InvokeAI's downscaled copy is computed but unused).
from PIL import Image  # noqa: E402

rgba = np.concatenate([T["in.noise"][:24, :32], np.full((24, 32, 1), 255, np.uint8)], -1)
rgba[6:16, 8:22, 3] = 0
rgba[4:6, 4:28, 3] = 128
rgba[20:24, 0:10, 3] = 0
T["in.rgba"] = rgba
filled = Image.fromarray(inpaint(rgba[:, :, :3], 255 - rgba[:, :, 3], 3), "RGB")
img = Image.fromarray(rgba, "RGBA")
filled.paste(img, (0, 0), mask=img.split()[-1])
T["node.rgba"] = np.array(filled)

header, data, off = {}, b"", 0
for name, arr in T.items():
    b = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("patchmatch.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
