"""Writes blend.safetensors: inputs and expected outputs of invokego's invokeai_img_blend node
(internal/nodes/imageops/blend.go), computed the way InvokeAI 6.12's node computes them, written out here in
NumPy float32 (InvokeAI uses float32 PyTorch tensors): sRGB transfer, HSL, Oklab, Okhsv / Okhsl with their
gamut geometry and adaptive gamut clipping; Pillow for HSV, resizing, padding, cropping and mode conversions,
and ImageCms (LittleCMS) for CIELAB, as the node does.

Run with Debian bookworm's python3 (Pillow 9.4.0, numpy 1.24.2):
    cd testdata/nodes/imageops && /usr/bin/python3 gen_blend.py
Arrays are uint8: H×W "L", H×W×3 "RGB", H×W×4 "RGBA".
"""
import json
import struct
from math import pi as PI

import numpy as np
from PIL import Image, ImageCms, ImageOps

F = np.float32
MAXF = np.finfo(np.float32).max
np.seterr(all="ignore")

MODES = ["Normal", "Lighten Only", "Darken Only", "Lighten Only (EAL)", "Darken Only (EAL)", "Hue", "Saturation",
         "Color", "Luminosity", "Linear Dodge (Add)", "Subtract", "Multiply", "Divide", "Screen", "Overlay",
         "Linear Burn", "Difference", "Hard Light", "Soft Light", "Vivid Light", "Linear Light", "Color Burn",
         "Color Dodge"]
SPACES = ["RGB", "Linear RGB", "HSL (RGB)", "HSV (RGB)", "Okhsl", "Okhsv", "Oklch (Oklab)", "LCh (CIELab)"]


def f(x):
    return np.asarray(x, dtype=F)


# --- CIELAB through LittleCMS, as the node builds its transforms -------------------------------------------
_srgb = ImageCms.createProfile("sRGB")
_lab = ImageCms.createProfile("LAB", colorTemp=6500)
TO_LAB = ImageCms.buildTransformFromOpenProfiles(_srgb, _lab, "RGB", "LAB", renderingIntent=2, flags=0x2400)
FROM_LAB = ImageCms.buildTransformFromOpenProfiles(_lab, _srgb, "LAB", "RGB", renderingIntent=2, flags=0x2400)


def to_byte(t):
    """torchvision's to_pil_image on float data: times 255, cast to a byte (through int32, as x86 does)."""
    return (f(t) * F(255)).astype(np.int32).astype(np.uint8)


def chw(img):
    a = np.array(img, dtype=np.uint8).astype(F) / F(255)
    if a.ndim == 2:
        a = a[:, :, None]
    return a.transpose(2, 0, 1)


# --- colour math (InvokeAI's composition helpers, per element, float32) --------------------------------------
def lin_from_srgb(s):
    s = f(s)
    return np.where(s <= F(0.0404482362771082), s / F(12.92), np.power((s + F(0.055)) / F(1.055), F(2.4)))


def srgb_from_lin(l, alpha=0.0, steps=1):
    l = f(l)
    if alpha > 0:
        l = gamut_clip(l, alpha, steps)
    l = np.clip(l, F(0), F(1))
    return np.where(l < F(0.0404482362771082 / 12.92), l * F(12.92),
                    np.power(l, F(1 / 2.4)) * F(1.055) - F(0.055))


M1 = f([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005]])
M2 = f([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660]])
MLMS = f([[1.0, 0.3963377774, 0.2158037573], [1.0, -0.1055613458, -0.0638541728], [1.0, -0.0894841775, -1.2914855480]])
MRGB = f([[4.0767416621, -3.3077115913, 0.2309699292], [-1.2684380046, 2.6097574011, -0.3413193965],
          [-0.0041960863, -0.7034186147, 1.7076147010]])


def fdot(coeffs, values):
    """A short dot product as PyTorch's einsum computes it on the CPU: the first product rounded, then each
    further term added by a fused multiply-add (emulated in double precision, which is exact for the product
    of two floats), rounded to float32 at each step."""
    acc = (F(coeffs[0]) * values[0]).astype(F)
    for c, v in zip(coeffs[1:], values[1:]):
        acc = (np.float64(c) * np.asarray(v, np.float64) + acc.astype(np.float64)).astype(F)
    return acc


def mm(m, v):
    return np.stack([fdot(m[k], [v[0], v[1], v[2]]) for k in range(3)])


def oklab_from_lin(rgb):
    lms = mm(M1, rgb)
    root = np.sign(lms) * np.power(np.abs(lms), F(1.0 / 3.0))
    return mm(M2, root)


def lin_from_oklab(lab):
    lms = mm(MLMS, lab)
    return mm(MRGB, lms * lms * lms)


def kl_of(a, b):
    return np.stack([fdot(MLMS[i, 1:], [a, b]) for i in range(3)])


def max_saturation(a, b, steps):
    K = f([[1.19086277, 1.76576728, 0.59662641, 0.75515197, 0.56771245],
           [0.73956515, -0.45954494, 0.08285427, 0.12541070, 0.14503204],
           [1.35733652, -0.00915799, -1.15130210, -0.50559606, 0.00692167]])
    cr = F(-1.88170328) * a + F(-0.80936493) * b
    cg = F(1.81444104) * a + F(-1.19445276) * b
    row = np.where(cr > 1, 0, np.where(cg > 1, 1, 2))
    terms = [np.ones_like(a), a, b, a * a, a * b]
    s = np.choose(row, [fdot(K[r], terms) for r in range(3)])
    kl = kl_of(a, b)
    for _ in range(steps):
        root = kl * s + F(1)
        lms, d1, d2 = root * root * root, kl * (root * root) * F(3), (kl * kl) * root * F(6)
        fv = np.choose(row, [fdot(MRGB[r], lms) for r in range(3)])
        f1 = np.choose(row, [fdot(MRGB[r], d1) for r in range(3)])
        f2 = np.choose(row, [fdot(MRGB[r], d2) for r in range(3)])
        s = s - (fv * f1) / (f1 * f1 - fv * f2 * F(0.5))
    return s


def find_cusp(a, b, steps):
    s = max_saturation(a, b, steps)
    rgb = lin_from_oklab(np.stack([np.ones_like(s), s * a, s * b]))
    l = np.power(F(1) / rgb.max(0), F(1.0 / 3.0))
    return l, l * s


def gamut_intersection(a, b, l1, c1, l0, steps, steps_outer, cusp):
    cl, cc = cusp
    cond = (l1 - l0) * cc - (cl - l0) * c1
    t = np.where(cond <= 0, (cc * l0) / (c1 * cl + cc * (l0 - l1)),
                 (cc * (l0 - F(1))) / (c1 * (cl - F(1)) + cc * (l0 - l1)))
    kl = kl_of(a, b)
    for _ in range(steps_outer):
        dt = kl * c1 + (l1 - l0)
        for _ in range(steps):
            l = l0 * (t * F(-1) + F(1)) + t * l1
            c = t * c1
            root = kl * c + l
            lms, d1, d2 = root * root * root, (root * root) * dt * F(3), (dt * dt) * root * F(6)
            r = mm(MRGB, lms) - F(1)
            r1, r2 = mm(MRGB, d1), mm(MRGB, d2)
            u = r1 / (r1 * r1 - r * r2 * F(0.5))
            tr = np.where(u < 0, MAXF, r * F(-1) * u)
            t = np.where(cond > 0, t + tr.min(0), t)
    return t


def gamut_clip(rgb, alpha, steps, steps_outer=1):
    lab = oklab_from_lin(rgb)
    c = np.sqrt(lab[1] * lab[1] + lab[2] * lab[2])
    c = np.where(c < F(0.00001), F(0.00001), c)
    a, b = lab[1] / c, lab[2] / c
    ld = lab[0] - F(0.5)
    e1 = (np.abs(ld) + c * F(alpha)) + F(0.5)
    l0 = (np.sign(ld) * (e1 - np.sqrt(e1 * e1 - np.abs(ld) * F(2))) + F(1)) * F(0.5)
    t = gamut_intersection(a, b, lab[0], c, l0, steps, steps_outer, find_cusp(a, b, steps))
    lc, cc = l0 * (t * F(-1) + F(1)) + t * lab[0], t * c
    out = (rgb.max(0) > 1) | (rgb.min(0) < 0)
    return np.where(out, lin_from_oklab(np.stack([lc, cc * a, cc * b])), rgb)


K1, K2 = F(0.206), F(0.03)
K3 = F((1.0 + 0.206) / (1.0 + 0.03))


def toe(x):
    d = x * K3 - K1
    return (d + np.sqrt(d * d + x * K3 * K2 * F(4))) * F(0.5)


def toe_inv(x):
    return (x * x + x * K1) / ((x + K2) * K3)


def nan0(t):
    return np.clip(np.where(np.isnan(t), F(0), t), F(0), F(1))


def ok_hue(lab):
    return (np.arctan2(lab[2] * F(-1), lab[1] * F(-1)) * F(0.5)) / F(PI) + F(0.5)


def okhsv_from_srgb(s, steps):
    lab = oklab_from_lin(lin_from_srgb(s))
    c = np.sqrt(lab[1] * lab[1] + lab[2] * lab[2])
    a, b = lab[1] / c, lab[2] / c
    cl, cc = find_cusp(a, b, steps)
    smax, tmax = cc / cl, cc / (cl * F(-1) + F(1))
    s0 = F(0.5)
    k = (s0 / smax) * F(-1) + F(1)
    t = tmax / (c + lab[0] * tmax)
    lv, cv = t * lab[0], t * c
    lvt = toe_inv(lv)
    cvt = cv * (lvt / lv)
    rs = lin_from_oklab(np.stack([lvt, a * cvt, b * cvt]))
    scale = np.power(F(1) / np.maximum(rs.max(0), F(0)), F(1.0 / 3.0))
    l = toe(lab[0] / scale)
    v = l / lv
    sat = ((s0 + tmax) * cv) / (tmax * s0 + tmax * (k * cv))
    return nan0(np.stack([ok_hue(lab), sat, v]))


def srgb_from_okhsv(hsv, alpha, steps):
    hsv = np.clip(hsv, F(0), F(1))
    a, b = np.cos(hsv[0] * F(2 * PI)), np.sin(hsv[0] * F(2 * PI))
    cl, cc = find_cusp(a, b, steps)
    smax, tmax = cc / cl, cc / (cl * F(-1) + F(1))
    s0 = F(0.5)
    k = (s0 / smax) * F(-1) + F(1)
    base = s0 + (tmax - tmax * (k * hsv[1]))
    lv = ((hsv[1] * s0) * F(-1)) / base + F(1)
    cv = (hsv[1] * tmax * s0) / base
    l, c = hsv[2] * lv, hsv[2] * cv
    lvt = toe_inv(lv)
    cvt = cv * (lvt / lv)
    ln = toe_inv(l)
    c = c * (ln / l)
    l = ln
    rs = lin_from_oklab(np.stack([lvt, a * cvt, b * cvt]))
    scale = np.power(F(1) / np.maximum(rs.max(0), F(0)), F(1.0 / 3.0))
    l, c = l * scale, c * scale
    return nan0(srgb_from_lin(lin_from_oklab(np.stack([l, a * c, b * c])), alpha, steps))


def chromas(l, a, b, steps, steps_outer):
    cusp = find_cusp(a, b, steps)
    cmax = gamut_intersection(a, b, l, np.ones_like(l), l, steps, steps_outer, cusp)
    cl, cc = cusp
    smax, tmax = cc / cl, cc / (cl * F(-1) + F(1))
    k = cmax / np.minimum(l * smax, (l * F(-1) + F(1)) * tmax)
    smid = F(1) / (b * F(4.15901240) + a * ((b * F(1.75198401) + a * ((b * F(-10.02301043) + a * (
        (b * F(5.38770819) + a * F(4.69891013)) + F(-4.24894561))) + F(-2.13704948))) + F(-2.19557347)) + F(7.44778970)) + F(0.11516993)
    tmid = F(1) / (b * F(-0.68124379) + a * ((b * F(0.90148123) + a * ((b * F(0.61223990) + a * (
        (b * F(-0.45399568) + a * F(-0.14661872)) + F(0.00299215))) + F(-0.27087943))) + F(0.40370612)) + F(1.61320320)) + F(0.11239642)
    ca, cb = l * smid, (l * F(-1) + F(1)) * tmid
    cmid = (k * np.sqrt(np.sqrt(F(1) / (F(1) / np.power(ca, F(4)) + F(1) / np.power(cb, F(4)))))) * F(0.9)
    ca, cb = l * F(0.4), (l * F(-1) + F(1)) * F(0.8)
    c0 = np.sqrt(F(1) / (F(1) / (ca * ca) + F(1) / (cb * cb)))
    return c0, cmid, cmax


MID, MID_INV = F(0.8), F(1.25)


def okhsl_from_srgb(s):
    lab = oklab_from_lin(lin_from_srgb(s))
    c = np.sqrt(lab[1] * lab[1] + lab[2] * lab[2])
    a, b = lab[1] / c, lab[2] / c
    c0, cmid, cmax = chromas(lab[0], a, b, 1, 1)
    lt = c < cmid
    k1 = np.where(lt, c0 * MID, ((cmid * cmid) * F(1.25 ** 2) * F(1.0 - 0.8)) / c0)
    k2 = np.where(lt, (k1 / cmid) * F(-1) + F(1), (k1 / (cmax - cmid)) * F(-1) + F(1))
    t = np.where(lt, c / (k1 + k2 * c), (c - cmid) / (k1 + k2 * (c - cmid)))
    sat = np.where(lt, t * MID, t * F(1.0 - 0.8) + MID)
    return nan0(np.stack([ok_hue(lab), sat, toe(lab[0])]))


def srgb_from_okhsl(hsl, alpha, steps, steps_outer=1):
    hsl = np.clip(hsl, F(0), F(1))
    a, b = np.cos(hsl[0] * F(2 * PI)), np.sin(hsl[0] * F(2 * PI))
    l = toe_inv(hsl[2])
    c0, cmid, cmax = chromas(l, a, b, steps, steps_outer)
    lt = hsl[1] < MID
    t = np.where(lt, hsl[1] * MID_INV, (hsl[1] - MID) / F(1.0 - 0.8))
    k1 = np.where(lt, c0 * MID, ((cmid * cmid) * F(1.25 ** 2) * F(1.0 - 0.8)) / c0)
    k2 = np.where(lt, (k1 / cmid) * F(-1) + F(1), (k1 / (cmax - cmid)) * F(-1) + F(1))
    c = (t * k1) / ((k2 * t) * F(-1) + F(1))
    c = np.where(lt, c, cmid + c)
    rgb = lin_from_oklab(np.stack([l, c * a, c * b]))
    rgb = np.where(hsl[2] == 1, F(1), np.where(hsl[2] == 0, F(0), rgb))
    return nan0(srgb_from_lin(rgb, alpha, steps))


def fmod1(x):
    r = np.fmod(x, F(1))
    return np.where((r != 0) & (r < 0), r + F(1), r)


def hsl_from_srgb(rgb):
    mx, mn = rgb.max(0), rgb.min(0)
    sm, rg = mx + mn, mx - mn
    l = sm / F(2)
    s = np.where(mx == mn, F(0), np.where(l < F(0.5), rg / sm, rg / (sm * F(-1) + F(2))))
    rc, gc, bc = (mx - rgb[0]) / rg, (mx - rgb[1]) / rg, (mx - rgb[2]) / rg
    h = np.where(mx == mn, F(0), np.where(rgb[0] == mx, bc - gc, np.where(rgb[1] == mx, (rc - bc) + F(2), (gc - rc) + F(4))))
    return np.stack([fmod1(h / F(6)), s, l])


def srgb_from_hsl(hsl):
    hsl = np.clip(hsl, F(0), F(1))
    h, s, l = hsl
    m2 = np.where(l <= F(0.5), l * (s + F(1)), (l + s) - l * s)
    m1 = l * F(2) - m2

    def v(h):
        h = fmod1(h)
        return np.where(h < F(1 / 6), m1 + (m2 - m1) * (h * F(6)), np.where(h < F(0.5), m2, np.where(
            h < F(2 / 3), m1 + (m2 - m1) * ((h * F(-1) + F(2 / 3)) * F(6)), m1)))

    return np.stack([v(h + F(1 / 3)), v(h), v(h - F(1 / 3))])


def lab_bytes(rgb_img):
    """The LAB image's bands as the node reads them, by getchannel: a* and b* offset by 128 (NumPy's view of a
    whole "LAB" image shows them as signed bytes instead)."""
    lab = ImageCms.applyTransform(rgb_img, TO_LAB)
    return np.stack([np.array(lab.getchannel(c)) for c in "LAB"], -1)


def rgb_from_lab_bands(lab):
    """Image.merge("LAB", bands) of the three byte planes, back to RGB through LittleCMS."""
    bands = [Image.fromarray(np.ascontiguousarray(lab[:, :, i]), "L") for i in range(3)]
    return ImageCms.applyTransform(Image.merge("LAB", bands), FROM_LAB)


def lch_from_lab(lab):
    l = lab[:, :, 0].astype(F) / F(255)
    a = (lab[:, :, 1].astype(F) / F(255)) * F(2) - F(1)
    b = (lab[:, :, 2].astype(F) / F(255)) * F(2) - F(1)
    return np.stack([l, np.sqrt(a * a + b * b), np.arctan2(b, a)])


def eal(lch):
    k = [F(0.1644), F(0.0603), F(0.1307), F(0.0060)]
    hm = lch[2] - F(PI / 2)
    r = np.fmod(hm + F(3 * PI), F(2 * PI))
    hm = np.where((r != 0) & (r < 0), r + F(2 * PI), r) - F(PI)
    fby = k[0] * np.abs(np.sin(hm / F(2))) + k[1]
    fr = np.where((lch[2] >= F(-PI / 2)) & (lch[2] <= F(PI / 2)), k[2] * np.abs(np.cos(lch[2])) + k[3], F(0))
    adj = F(np.sum(((fby + fr) * lch[1]).astype(np.float64)))
    return ((lch[0] + adj) - (F(0) + adj)) / ((F(1) + adj) - (F(0) + adj))


# --- the node ---------------------------------------------------------------------------------------------------
def fit(img, base, fw, fh):
    ab, au = base.width / base.height, img.width / img.height
    if fw and fh:
        return img.resize((base.width, base.height))
    if (fw and ab < au) or (fh and au <= ab):
        return ImageOps.pad(img, (base.width, base.height), color=tuple(0 for _ in img.getbands()))
    if (fw and au <= ab) or (fh and ab < au):
        return ImageOps.fit(img, (base.width, base.height))
    return img


def blend(upper, base, mode="Normal", space="RGB", opacity=1.0, mask=None, fw=False, fh=True, gamut=0.0, hp=True):
    steps = 3 if hp else 1
    base_mode = base.mode
    upper = fit(upper, base, fw, fh)
    if mask is not None:
        mask = fit(mask, base, fw, fh).convert("L")
    alphas = []
    for im in (upper, base):
        alphas.append(chw(im.getchannel("A"))[0] if im.mode == "RGBA" else np.ones((base.height, base.width), F))
    upper, base = upper.convert("RGB"), base.convert("RGB")
    up_rgb, lo_rgb = chw(upper), chw(base)
    sp = space.split()[0]
    if sp in ("RGB", "Linear") and mode in ("Hue", "Saturation", "Color", "Luminosity"):
        sp = "HSL"

    def prep(img, rgb):
        if sp == "RGB":
            return rgb.copy()
        if sp == "Linear":
            return lin_from_srgb(rgb)
        if sp == "HSL":
            return hsl_from_srgb(rgb)
        if sp == "HSV":
            return chw(img.convert("HSV"))
        if sp == "Okhsl":
            return okhsl_from_srgb(rgb)
        if sp == "Okhsv":
            return okhsv_from_srgb(rgb, steps)
        if sp == "Oklch":
            lab = oklab_from_lin(lin_from_srgb(rgb))
            return np.stack([lab[0], np.sqrt(lab[1] * lab[1] + lab[2] * lab[2]), np.arctan2(lab[2], lab[1])])
        return lch_from_lab(lab_bytes(img))

    def reasm(t):
        if sp == "RGB":
            return lin_from_srgb(t)
        if sp == "Linear":
            return t
        if sp == "HSL":
            return lin_from_srgb(srgb_from_hsl(t))
        if sp == "HSV":
            hsv = Image.fromarray(to_byte(np.clip(t, F(0), F(1))).transpose(1, 2, 0), "HSV")
            return lin_from_srgb(chw(hsv.convert("RGB")))
        if sp == "Okhsl":
            return lin_from_srgb(srgb_from_okhsl(t, gamut, steps))
        if sp == "Okhsv":
            return lin_from_srgb(srgb_from_okhsv(t, gamut, steps))
        if sp == "Oklch":
            return lin_from_oklab(np.stack([t[0], t[1] * np.cos(t[2]), t[1] * np.sin(t[2])]))
        lab = np.stack([to_byte(np.clip(t[0], F(0), F(1))), to_byte((t[1] * np.cos(t[2]) + F(1)) / F(2)),
                        to_byte((t[1] * np.sin(t[2]) + F(1)) / F(2))], -1)
        return lin_from_srgb(chw(rgb_from_lab_bands(lab)))

    def clipped(rgb):
        rgb = np.where(np.isnan(rgb), MAXF, rgb)
        if gamut > 0:
            rgb = gamut_clip(rgb, gamut, steps)
            rgb = np.where(np.isnan(rgb), MAXF, rgb)
        return np.clip(rgb, F(0), F(1))

    up, lo = prep(upper, up_rgb), prep(base, lo_rgb)
    li = {"HSL": 2, "HSV": 2, "Okhsl": 2, "Okhsv": 2, "Oklch": 0, "LCh": 0}.get(sp)
    si = None if li is None else 1
    hi = {"HSL": 0, "HSV": 0, "Okhsl": 0, "Okhsv": 0, "Oklch": 2, "LCh": 2}.get(sp)

    def on_l(fn, dst):
        """fn over every channel, or over the lightness channel alone."""
        dst = dst.copy()
        if li is None:
            return fn(up, lo)
        dst[li] = fn(up[li], lo[li])
        return dst

    def wrap(t):
        if hi is not None:
            t[hi] = fmod1(t[hi])
        return t

    if mode == "Normal":
        res = reasm(up)
    elif mode == "Multiply":
        res = reasm(lo * up)
    elif mode == "Screen":
        res = reasm(((up * F(-1) + F(1)) * (lo * F(-1) + F(1))) * F(-1) + F(1))
    elif mode in ("Overlay", "Hard Light"):
        ov = mode == "Overlay"
        res = clipped(reasm(on_l(lambda u, l: np.where((l if ov else u) < F(0.5), (l * u) * F(2),
                                                       (((l * F(-1) + F(1)) * (u * F(-1) + F(1))) * F(2)) * F(-1) + F(1)), up)))
    elif mode == "Soft Light":
        def soft(u, l):
            g = np.where(l <= F(0.25), ((l * F(16) - F(12)) * l + F(4)) * l, np.sqrt(l))
            return np.where(u <= F(0.5), l - ((l * F(-1) + F(1)) * l) * ((u * F(2)) * F(-1) + F(1)), l + (u * F(2) - F(1)) * (g - l))
        res = clipped(reasm(on_l(soft, lo)))
    elif mode == "Linear Dodge (Add)":
        res = clipped(reasm(wrap(lo + up)))
    elif mode == "Color Dodge":
        res = clipped(reasm(wrap(lo / (up * F(-1) + F(1)))))
    elif mode == "Divide":
        res = clipped(reasm(wrap(lo / up)))
    elif mode == "Subtract":
        res = clipped(reasm(wrap(lo - up)))
    elif mode == "Linear Burn":
        res = clipped(reasm(on_l(lambda u, l: (l + u) - F(1), lo)))
    elif mode == "Linear Light":
        res = clipped(reasm(on_l(lambda u, l: (l + u * F(2)) - F(1), lo)))
    elif mode == "Color Burn":
        res = clipped(reasm(np.minimum((lo * F(-1) + F(1)) / up, F(1)) * F(-1) + F(1)))
    elif mode == "Vivid Light":
        def vivid(u, l):
            return np.where(u < F(0.5), (((l * F(-1) + F(1)) / u) * F(-1) + F(1)) / F(2), (l / (u * F(-1) + F(1))) / F(2))
        if li is None:
            res = clipped(reasm(clipped(reasm(vivid(up, lo)))))
        else:
            res = clipped(reasm(on_l(vivid, lo)))
    elif mode == "Difference":
        res = clipped(reasm(np.abs(lo - up)))
    elif mode in ("Darken Only", "Lighten Only"):
        dk = mode == "Darken Only"
        if li is None:
            res = reasm(np.minimum(up, lo) if dk else np.maximum(up, lo))
        else:
            take = (up[li] >= lo[li]) if dk else (up[li] < lo[li])
            res = reasm(np.where(take, lo, up))
    elif mode in ("Hue", "Saturation", "Color", "Luminosity"):
        t = up.copy()
        keep = {"Hue": [li, si], "Saturation": [li, hi], "Color": [li], "Luminosity": [si, hi]}[mode]
        for c in keep:
            t[c] = lo[c]
        res = reasm(t)
    else:  # EAL
        eu, el = eal(lch_from_lab(lab_bytes(upper))), eal(lch_from_lab(lab_bytes(base)))
        take = (eu < el) if mode == "Lighten Only (EAL)" else (eu >= el)
        res = reasm(np.where(take, lo, up))

    top = srgb_from_lin(res, gamut, steps)
    top = np.where(np.isnan(top), MAXF, top)
    au = alphas[0] * F(opacity)
    if mask is not None:
        au = au * (chw(mask)[0] * F(-1) + F(1))
    al = alphas[1]
    a = au + al * (au * F(-1) + F(1))
    out = (top * au + (lo_rgb * al) * (au * F(-1) + F(1))) / a
    rgba = np.concatenate([to_byte(out), to_byte(a)[None]]).transpose(1, 2, 0)
    return np.array(Image.fromarray(np.ascontiguousarray(rgba), "RGBA").convert(base_mode))


# --- inputs and cases -----------------------------------------------------------------------------------------
def main():
    rng = np.random.default_rng(17)
    T = {}
    H, W = 12, 16
    yy, xx = np.mgrid[0:H, 0:W]
    upper = np.stack([xx * 17 % 256, yy * 23 % 256, (xx * 7 + yy * 11) % 256, 128 + (xx * 8) % 128], -1).astype(np.uint8)
    upper[2:6, 3:9, :3] = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    upper[0, :4, :3] = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0]]  # black, white, grey, primary
    base = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    base[H - 1, :4] = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [0, 0, 255]]
    base_rgba = np.concatenate([base, (yy * 21 % 256)[:, :, None].astype(np.uint8)], -1)
    base_rgba[0, 0, 3] = 255
    wide = rng.integers(0, 256, (8, 20, 3), dtype=np.uint8)  # another aspect: padded, cropped or stretched
    mask = ((xx * 16 + yy * 9) % 256).astype(np.uint8)
    T.update({"in.upper": upper, "in.base": base, "in.base_rgba": base_rgba, "in.wide": wide, "in.mask": mask})
    im = {k[3:]: Image.fromarray(v) for k, v in T.items() if k.startswith("in.")}

    cases = []
    for mode in MODES:
        for space in SPACES:
            cases.append(dict(mode=mode, space=space))
    # Options: opacity and mask, an RGBA base, adaptive gamut, fewer steps, and the three ways to fit a layer.
    for space in ["RGB", "Okhsl", "Okhsv", "Oklch (Oklab)"]:
        for mode in ["Normal", "Multiply", "Linear Dodge (Add)", "Color Burn", "Color"]:
            cases.append(dict(mode=mode, space=space, gamut=0.05))
            cases.append(dict(mode=mode, space=space, gamut=0.5, hp=False))
    for mode in ["Normal", "Screen", "Soft Light", "Hue"]:
        cases.append(dict(mode=mode, space="RGB", opacity=0.6, mask="mask"))
        cases.append(dict(mode=mode, space="Okhsv", base="base_rgba"))
    for fw, fh in [(False, True), (True, False), (True, True)]:
        cases.append(dict(mode="Multiply", space="RGB", upper="wide", fw=fw, fh=fh))
        cases.append(dict(mode="Normal", space="HSL (RGB)", upper="wide", mask="wide", fw=fw, fh=fh, opacity=0.8))


    def case_name(c):
        return "blend|%s|%s|%s|%s|%g|%s|%d%d|%g|%d" % (c["mode"], c["space"], c.get("upper", "upper"), c.get("base", "base"),
                                                         c.get("opacity", 1.0), c.get("mask", ""), c.get("fw", False),
                                                         c.get("fh", True), c.get("gamut", 0.0), c.get("hp", True))


    for c in cases:
        T[case_name(c)] = blend(im[c.get("upper", "upper")], im[c.get("base", "base")], c["mode"], c["space"],
                                c.get("opacity", 1.0), im[c["mask"]] if c.get("mask") else None, c.get("fw", False),
                                c.get("fh", True), c.get("gamut", 0.0), c.get("hp", True))

    header, data, off = {}, b"", 0
    for name, arr in T.items():
        b = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open("blend.safetensors", "wb") as fh_:
        fh_.write(struct.pack("<Q", len(h)) + h + data)
    print(len(T), "arrays", off, "bytes")


if __name__ == "__main__":
    main()
