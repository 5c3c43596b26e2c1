"""Writes ip-adapter-plus_tiny.safetensors and resampler.safetensors: a tiny IP-Adapter "plus" (a Perceiver
resampler image projection, as IP-Adapter Plus and InvokeAI's Resampler define it) with random weights for
the tiny SD-1 UNet (six cross-attention processors, width 32), and the resampler's output for random image
hidden states, computed here in numpy float64 from the published architecture:

    latents = learned queries;  x = proj_in(hidden)
    per layer:  latents += to_out(attention(q = to_q(norm2(latents)),
                                            k, v = to_kv(cat(norm1(x), norm2(latents)))))
                latents += W2·gelu(W1·layernorm(latents))
    tokens = norm_out(proj_out(latents))

Run with Debian bookworm's /usr/bin/python3 (numpy 1.24.2): /usr/bin/python3 make_resampler.py
"""
import json
import math
import struct

import numpy as np

rng = np.random.default_rng(23)
dim, heads, head_dim, queries, depth, emb, out_dim, ff = 64, 2, 64, 4, 2, 32, 32, 4
inner = heads * head_dim


def rnd(*shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


w = {"image_proj.latents": rnd(1, queries, dim, scale=dim ** -0.5),
     "image_proj.proj_in.weight": rnd(dim, emb), "image_proj.proj_in.bias": rnd(dim),
     "image_proj.proj_out.weight": rnd(out_dim, dim), "image_proj.proj_out.bias": rnd(out_dim),
     "image_proj.norm_out.weight": 1 + rnd(out_dim), "image_proj.norm_out.bias": rnd(out_dim)}
for i in range(depth):
    p = f"image_proj.layers.{i}"
    w[f"{p}.0.norm1.weight"], w[f"{p}.0.norm1.bias"] = 1 + rnd(dim), rnd(dim)
    w[f"{p}.0.norm2.weight"], w[f"{p}.0.norm2.bias"] = 1 + rnd(dim), rnd(dim)
    w[f"{p}.0.to_q.weight"] = rnd(inner, dim)
    w[f"{p}.0.to_kv.weight"] = rnd(2 * inner, dim)
    w[f"{p}.0.to_out.weight"] = rnd(dim, inner)
    w[f"{p}.1.0.weight"], w[f"{p}.1.0.bias"] = 1 + rnd(dim), rnd(dim)
    w[f"{p}.1.1.weight"] = rnd(dim * ff, dim)
    w[f"{p}.1.3.weight"] = rnd(dim, dim * ff)
for pid, width in ((1, 64), (3, 64), (5, 64), (7, 64), (9, 64), (11, 64)):
    w[f"ip_adapter.{pid}.to_k_ip.weight"] = rnd(width, out_dim)
    w[f"ip_adapter.{pid}.to_v_ip.weight"] = rnd(width, out_dim)

f64 = {k: v.astype(np.float64) for k, v in w.items()}


def layernorm(x, g, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def lin(x, name, bias=True):
    y = x @ f64[name + ".weight"].T
    if bias and name + ".bias" in f64:
        y = y + f64[name + ".bias"]
    return y


hidden = rnd(2, 50, emb, scale=1.0)
x = lin(hidden.astype(np.float64), "image_proj.proj_in")
lat = np.repeat(f64["image_proj.latents"], x.shape[0], axis=0)
for i in range(depth):
    p = f"image_proj.layers.{i}"
    xn = layernorm(x, f64[f"{p}.0.norm1.weight"], f64[f"{p}.0.norm1.bias"])
    ln = layernorm(lat, f64[f"{p}.0.norm2.weight"], f64[f"{p}.0.norm2.bias"])
    q = lin(ln, f"{p}.0.to_q", False)
    kv = lin(np.concatenate([xn, ln], axis=1), f"{p}.0.to_kv", False)
    k, v = kv[..., :inner], kv[..., inner:]
    out = np.zeros_like(q)
    for h in range(heads):
        sl = slice(h * head_dim, (h + 1) * head_dim)
        s = q[..., sl] @ np.swapaxes(k[..., sl], 1, 2) / math.sqrt(head_dim)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        out[..., sl] = s @ v[..., sl]
    lat = lin(out, f"{p}.0.to_out", False) + lat
    h1 = layernorm(lat, f64[f"{p}.1.0.weight"], f64[f"{p}.1.0.bias"])
    lat = lin(gelu(lin(h1, f"{p}.1.1", False)), f"{p}.1.3", False) + lat
tokens = layernorm(lin(lat, "image_proj.proj_out"), f64["image_proj.norm_out.weight"], f64["image_proj.norm_out.bias"])


def write(path, tensors):
    header, data, off = {}, b"", 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    hd = json.dumps(header).encode()
    hd += b" " * ((8 - len(hd) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hd)) + hd + data)


write("ip-adapter-plus_tiny.safetensors", w)
write("resampler.safetensors", {"hidden_states": hidden, "tokens": tokens.astype(np.float32)})
