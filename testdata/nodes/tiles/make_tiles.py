"""Writes tiles.safetensors: InvokeAI 6.12's tile grids (calculate_image_tiles, calculate_image_tiles_even_split,
calculate_image_tiles_min_overlap) and its tile merges (merge_tiles_to_image, blend modes Linear and Seam),
computed with NumPy 1.24.2 and OpenCV 4.6.0 as InvokeAI computes them (np.linspace ramps, np.dot luminance,
np.gradient energy, cv2.blur of the seam mask, float64 mixing cast to uint8).

Grids: `grid.<kind>.<params>` is int64 [n, 8]: top, bottom, left, right, overlap top, bottom, left, right, in
InvokeAI's order. Merges: `merge.<case>.tiles` (int64 [n, 8]), `merge.<case>.tile<i>` (uint8 [h, w, 3]) and
`merge.<case>.<Linear|Seam>.<blend>` (uint8 [H, W, 3]).

Run in this folder with Debian bookworm's /usr/bin/python3: /usr/bin/python3 make_tiles.py
"""
import json
import math
import struct

import cv2
import numpy as np


def link(coords, nx, ny):
    """Each tile's overlap with its upper and left neighbours, recorded on both."""
    t = [list(c) + [0, 0, 0, 0] for c in coords]
    for iy in range(ny):
        for ix in range(nx):
            cur = t[iy * nx + ix]
            if iy > 0:
                up = t[(iy - 1) * nx + ix]
                cur[4] = max(0, up[1] - cur[0])
                up[5] = cur[4]
            if ix > 0:
                left = t[iy * nx + ix - 1]
                cur[6] = max(0, left[3] - cur[2])
                left[7] = cur[6]
    return t


def with_overlap(h, w, th, tw, o):
    assert h >= th and w >= tw and o < th and o < tw
    ny, nx = math.ceil((h - o) / (th - o)), math.ceil((w - o) / (tw - o))
    coords = []
    for iy in range(ny):
        for ix in range(nx):
            top, left = iy * (th - o), ix * (tw - o)
            bottom, right = top + th, left + tw
            if bottom > h:
                top, bottom = h - th, h
            if right > w:
                left, right = w - tw, w
            coords.append((top, bottom, left, right))
    return link(coords, nx, ny)


def even_split(h, w, nx, ny, o):
    if w % 8 or h % 8:
        raise ValueError("image size")

    def size(n, k):
        if k == 1:
            return n
        assert o <= n - 8 * (k - 1)
        s = 8 * math.floor(((n + o * (k - 1)) // k) / 8)
        assert o < s
        return s

    sx, sy = size(w, nx), size(h, ny)
    coords = []
    for iy in range(ny):
        top = iy * (sy - o)
        bottom = h if iy == ny - 1 else min(top + sy, h)
        for ix in range(nx):
            left = ix * (sx - o)
            right = w if ix == nx - 1 else min(left + sx, w)
            coords.append((top, bottom, left, right))
    return link(coords, nx, ny)


def min_overlap(h, w, th, tw, o):
    assert o < th and o < tw
    th, tw = min(th, h), min(tw, w)
    nx, ny = math.ceil((w - o) / (tw - o)), math.ceil((h - o) / (th - o))
    coords = []
    for iy in range(ny):
        top = (iy * (h - th)) // (ny - 1) if ny > 1 else 0
        for ix in range(nx):
            left = (ix * (w - tw)) // (nx - 1) if nx > 1 else 0
            coords.append((top, top + th, left, left + tw))
    return link(coords, nx, ny)


def rows_of(tiles, images):
    pairs = sorted(zip(tiles, images), key=lambda p: p[0][2])
    pairs = sorted(pairs, key=lambda p: p[0][0])
    rows, cur = [], []
    for p in pairs:
        if cur and (p[0][0] != cur[0][0][0] or p[0][1] != cur[0][0][1]):
            rows.append(cur)
            cur = []
        cur.append(p)
    return rows + [cur]


def mix_into(dst, src, mask):
    m = np.expand_dims(mask, -1)
    dst[...] = src * m + dst * (1.0 - m)


def merge_linear(H, W, tiles, images, blend):
    out = np.zeros((H, W, 3), np.uint8)
    ramp = np.linspace(0.0, 1.0, num=blend)
    for row in rows_of(tiles, images):
        first = row[0][0]
        rh = first[1] - first[0]
        rimg = np.zeros((rh, W, 3), np.uint8)
        for t, im in row:
            mask = np.ones(im.shape[:2], np.float64)
            if t[6] > 0:
                assert t[6] >= blend
                s = t[6] // 2 - blend // 2
                mask[:, :s] = 0.0
                mask[:, s:s + blend] = ramp
            mix_into(rimg[:, t[2]:t[3]], im, mask)
        mask = np.ones((rh, W), np.float64)
        if first[4] > 0:
            assert first[4] >= blend
            s = first[4] // 2 - blend // 2
            mask[:s, :] = 0.0
            mask[s:s + blend, :] = ramp[:, None]
        mix_into(out[first[0]:first[1]], rimg, mask)
    return out


def seam(a, b, blend, across):
    d = np.dot(b, [0.2989, 0.5870, 0.1140]) - np.dot(a, [0.2989, 0.5870, 0.1140])
    if across:
        d = np.rot90(d, 1)
    g = math.ceil(blend / 2) if blend > 0 else 0
    rows, cols = d.shape
    lo_x, hi_x = g, cols - g
    energy = np.abs(np.gradient(d, axis=0)) + np.abs(np.gradient(d, axis=1))
    acc = energy.copy()
    for y in range(1, rows):
        e = acc[y].copy()
        left = np.full_like(e, 255.0)
        left[:-1] = e[1:]
        right = np.full_like(e, 255.0)
        right[1:] = e[:-1]
        acc[y] = acc[y - 1] + np.minimum(np.minimum(e, left), right)
    path = np.empty(rows, np.uint16)
    path[rows - 1] = np.argmin(acc[rows - 1, lo_x:hi_x - 1])  # kept relative, as InvokeAI keeps it
    for y in range(rows - 2, -1, -1):
        p = path[y + 1]
        l = np.clip(p - 1, lo_x, hi_x - 1)  # NumPy 1.x: a uint16 scalar minus 1 is an int64, so 0 - 1 is -1
        r = np.clip(p + 1, lo_x, hi_x - 1)
        path[y] = np.argmin(energy[y, l:r + 1]) + l
    mask = np.zeros_like(d)
    for y in range(rows):
        mask[y, :path[y]] = 1
    if across:
        mask = np.rot90(mask, 3)
    if blend > 0:
        mask = cv2.blur(mask, (blend, blend))
    m = np.expand_dims(mask, -1)
    return a * m + b * (1.0 - m)


def merge_seam(H, W, tiles, images, blend):
    out = np.zeros((H, W, 3), np.uint8)
    for row in rows_of(tiles, images):
        first = row[0][0]
        rh = first[1] - first[0]
        rimg = np.zeros((rh, W, 3), np.uint8)
        for t, im in row:
            o = t[6]
            if o > 0:
                assert o >= blend
                rimg[:, t[2]:t[2] + o] = seam(rimg[:, t[2]:t[2] + o], im[:, :o], blend, False)
                rimg[:, t[2] + o:t[3]] = im[:, o:]
            else:
                rimg[:, t[2]:t[3]] = im
        o = first[4]
        if o > 0:
            assert o >= blend
            out[first[0]:first[0] + o] = seam(out[first[0]:first[0] + o], rimg[:o], blend, True)
            out[first[0] + o:first[1]] = rimg[o:]
        else:
            out[first[0]:first[1]] = rimg
    return out


t = {}
grids = {
    "with_overlap": [(1024, 1024, 576, 576, 128), (1000, 700, 512, 256, 64), (64, 64, 64, 64, 0),
                     (300, 500, 100, 120, 0), (301, 257, 128, 96, 33)],
    "even_split": [(1024, 1024, 2, 2, 128), (1024, 768, 3, 2, 64), (64, 64, 1, 1, 0), (640, 480, 5, 3, 16),
                   (64, 128, 4, 7, 0), (1024, 1024, 3, 3, 200)],
    "min_overlap": [(1024, 1024, 576, 576, 128), (100, 700, 576, 256, 64), (513, 1025, 128, 200, 50),
                    (64, 64, 64, 64, 0), (130, 130, 129, 129, 128)],
}
fns = {"with_overlap": with_overlap, "even_split": even_split, "min_overlap": min_overlap}
for kind, cases in grids.items():
    for c in cases:
        t[f"grid.{kind}.{'_'.join(map(str, c))}"] = np.array(fns[kind](*c), np.int64)

rng = np.random.default_rng(12)


def scene(H, W):
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 255.0 / W, y * 255.0 / H, 128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)], -1)
    img[(x - W / 2) ** 2 + (y - H / 2) ** 2 < (min(H, W) / 4) ** 2] = (240, 30, 60)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


merges = {
    # name: (H, W, tiles, blends)
    "overlap3x2": (96, 136, with_overlap(96, 136, 64, 56, 24), [0, 1, 8, 16]),
    "even2x2": (80, 96, even_split(80, 96, 2, 2, 32), [0, 5, 16]),
    "minov3x3": (100, 90, min_overlap(100, 90, 48, 40, 12), [0, 4, 11]),
}
for name, (H, W, tiles, blends) in merges.items():
    base = scene(H, W)
    images = []
    for i, tl in enumerate(tiles):
        im = base[tl[0]:tl[1], tl[2]:tl[3]].astype(np.int16)
        im = im + rng.integers(-40, 41, size=3) + rng.integers(-3, 4, size=im.shape)  # each tile its own look
        images.append(np.clip(im, 0, 255).astype(np.uint8))
        t[f"merge.{name}.tile{i}"] = images[-1]
    t[f"merge.{name}.tiles"] = np.array(tiles, np.int64)
    for b in blends:
        t[f"merge.{name}.Linear.{b}"] = merge_linear(H, W, tiles, images, b)
        t[f"merge.{name}.Seam.{b}"] = merge_seam(H, W, tiles, images, b)

header, data, off = {"__metadata__": {"numpy": np.__version__, "opencv": cv2.__version__}}, b"", 0
for name in sorted(t):
    v = np.ascontiguousarray(t[name])
    b = v.tobytes()
    header[name] = {"dtype": "I64" if v.dtype == np.int64 else "U8", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    data += b
    off += len(b)
hd = json.dumps(header).encode()
hd += b" " * ((8 - len(hd) % 8) % 8)
with open("tiles.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hd)) + hd + data)
