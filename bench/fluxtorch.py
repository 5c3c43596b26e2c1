"""The FLUX.1 transformer in plain torch, the `make bench` peer for invokego's FLUX engine.

Functional code over a diffusers-named state dict (FluxTransformer2DModel's names); no diffusers,
transformers or safetensors package. `--check` runs the tiny fixture model (testdata/flux-tiny) on the
transformer goldens (cases a and b, dev and schnell) and must match within 1e-4 of the largest reference
magnitude. `--bench` builds one double-stream and one single-stream block at FLUX.1's widths (hidden 3072,
24 heads of 128, MLP 12288, T5 width 4096) with random bfloat16 weights and times one call of the
transformer on an image of --size pixels (4096 image + 512 text tokens at 1024², 1024 + 512 at 512²),
block by block; one JSON line per run configuration.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdtorch as st  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def linear(sd, name, x):
    return F.linear(x, sd[name + ".weight"], sd.get(name + ".bias"))


def mlp_embed(sd, name, x):
    return linear(sd, name + ".linear_2", F.silu(linear(sd, name + ".linear_1", x)))


def timestep_embedding(t, dim=256):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


def rope(ids, axes, theta=10000):
    """cos, sin [S, head/2] for position ids [S, 3], computed in float64 as diffusers does."""
    cos, sin = [], []
    for i, d in enumerate(axes):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.outer(ids[:, i].double(), freqs)
        cos.append(ang.cos())
        sin.append(ang.sin())
    return torch.cat(cos, -1).float(), torch.cat(sin, -1).float()


def apply_rope(x, cos, sin):
    """Rotates adjacent pairs of x [B, H, S, D]."""
    x1, x2 = x[..., 0::2].float(), x[..., 1::2].float()
    o1 = x1 * cos - x2 * sin
    o2 = x2 * cos + x1 * sin
    return torch.stack([o1, o2], -1).flatten(-2).to(x.dtype)


def rms(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def attention(q, k, v, chunk=4):
    """softmax(QKᵀ/√d)V over [B, H, S, D], a few heads at a time so the scores stay small."""
    out = torch.empty_like(q)
    scale = 1 / math.sqrt(q.shape[-1])
    for h0 in range(0, q.shape[1], chunk):
        s = q[:, h0 : h0 + chunk] @ k[:, h0 : h0 + chunk].transpose(-1, -2) * scale
        out[:, h0 : h0 + chunk] = torch.softmax(s.float(), -1).to(q.dtype) @ v[:, h0 : h0 + chunk]
    return out


def modulated(x, shift, scale):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]


def double_block(sd, p, img, txt, temb, cos, sin, heads):
    b, n, h = img.shape
    l = txt.shape[1]
    m = linear(sd, p + "norm1.linear", F.silu(temb)).chunk(6, -1)
    c = linear(sd, p + "norm1_context.linear", F.silu(temb)).chunk(6, -1)
    ni, nt = modulated(img, m[0], m[1]), modulated(txt, c[0], c[1])

    def split(x):
        return x.view(b, -1, heads, h // heads).transpose(1, 2)

    q = torch.cat([rms(split(linear(sd, p + "attn.add_q_proj", nt)), sd[p + "attn.norm_added_q.weight"]),
                   rms(split(linear(sd, p + "attn.to_q", ni)), sd[p + "attn.norm_q.weight"])], 2)
    k = torch.cat([rms(split(linear(sd, p + "attn.add_k_proj", nt)), sd[p + "attn.norm_added_k.weight"]),
                   rms(split(linear(sd, p + "attn.to_k", ni)), sd[p + "attn.norm_k.weight"])], 2)
    v = torch.cat([split(linear(sd, p + "attn.add_v_proj", nt)), split(linear(sd, p + "attn.to_v", ni))], 2)
    a = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v).transpose(1, 2).reshape(b, l + n, h)
    img = img + m[2][:, None] * linear(sd, p + "attn.to_out.0", a[:, l:])
    ff = linear(sd, p + "ff.net.2", F.gelu(linear(sd, p + "ff.net.0.proj", modulated(img, m[3], m[4])), approximate="tanh"))
    img = img + m[5][:, None] * ff
    txt = txt + c[2][:, None] * linear(sd, p + "attn.to_add_out", a[:, :l])
    ff = linear(sd, p + "ff_context.net.2",
                F.gelu(linear(sd, p + "ff_context.net.0.proj", modulated(txt, c[3], c[4])), approximate="tanh"))
    return img, txt + c[5][:, None] * ff


def single_block(sd, p, x, temb, cos, sin, heads):
    b, s, h = x.shape
    m = linear(sd, p + "norm.linear", F.silu(temb)).chunk(3, -1)
    n = modulated(x, m[0], m[1])
    mlp = F.gelu(linear(sd, p + "proj_mlp", n), approximate="tanh")

    def split(t):
        return t.view(b, -1, heads, h // heads).transpose(1, 2)

    q = apply_rope(rms(split(linear(sd, p + "attn.to_q", n)), sd[p + "attn.norm_q.weight"]), cos, sin)
    k = apply_rope(rms(split(linear(sd, p + "attn.to_k", n)), sd[p + "attn.norm_k.weight"]), cos, sin)
    v = split(linear(sd, p + "attn.to_v", n))
    a = attention(q, k, v).transpose(1, 2).reshape(b, s, h)
    return x + m[2][:, None] * linear(sd, p + "proj_out", torch.cat([a, mlp], -1))


def forward(sd, cfg, img, txt, pooled, timestep, guidance, img_ids, txt_ids, times=None):
    """FluxTransformer2DModel.forward; times, when a dict, collects per-block seconds."""
    heads = cfg["num_attention_heads"]
    dtype = img.dtype
    temb = mlp_embed(sd, "time_text_embed.timestep_embedder", timestep_embedding(timestep * 1000).to(dtype))
    if cfg["guidance_embeds"]:
        temb = temb + mlp_embed(sd, "time_text_embed.guidance_embedder", timestep_embedding(guidance * 1000).to(dtype))
    temb = temb + mlp_embed(sd, "time_text_embed.text_embedder", pooled)
    x = linear(sd, "x_embedder", img)
    t = linear(sd, "context_embedder", txt)
    cos, sin = rope(torch.cat([txt_ids, img_ids], 0), cfg["axes_dims_rope"])
    l = t.shape[1]
    for i in range(cfg["num_layers"]):
        t0, c0 = time.perf_counter(), cpu_seconds()
        x, t = double_block(sd, f"transformer_blocks.{i}.", x, t, temb, cos, sin, heads)
        if times is not None:
            times.setdefault("double", []).append(time.perf_counter() - t0)
            times.setdefault("double_cpu", []).append(cpu_seconds() - c0)
    x = torch.cat([t, x], 1)
    for i in range(cfg["num_single_layers"]):
        t0, c0 = time.perf_counter(), cpu_seconds()
        x = single_block(sd, f"single_transformer_blocks.{i}.", x, temb, cos, sin, heads)
        if times is not None:
            times.setdefault("single", []).append(time.perf_counter() - t0)
            times.setdefault("single_cpu", []).append(cpu_seconds() - c0)
    x = x[:, l:]
    scale, shift = linear(sd, "norm_out.linear", F.silu(temb)).chunk(2, -1)
    return linear(sd, "proj_out", modulated(x, shift, scale))


def check():
    worst = 0.0
    for variant in ("dev", "schnell"):
        folder = os.path.join(ROOT, "testdata", "flux-tiny", "models", f"flux-{variant}-tiny", "transformer")
        sd = st.load_safetensors(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
        cfg = json.load(open(os.path.join(folder, "config.json")))
        g = st.load_safetensors(os.path.join(ROOT, "testdata", "flux-tiny", "goldens", f"transformer_{variant}.safetensors"))
        for case in ("a", "b"):
            with torch.inference_mode():
                out = forward(sd, cfg, g[case + ".hidden_states"], g[case + ".encoder_hidden_states"],
                              g[case + ".pooled_projections"], g[case + ".timestep"], g.get(case + ".guidance"),
                              g[case + ".img_ids"], g[case + ".txt_ids"])
            ref = g[case + ".out"]
            rel = ((out - ref).abs().max() / ref.abs().max()).item()
            worst = max(worst, rel)
            print(f"fluxtorch check: {variant} case {case}: max abs diff / max |ref| = {rel:.3g}", file=sys.stderr)
    if worst > 1e-4:
        sys.exit(f"fluxtorch: the plain-torch FLUX transformer does not match the goldens ({worst:.3g} > 1e-4)")


# FLUX.1's widths.
FLUX1 = {"num_attention_heads": 24, "attention_head_dim": 128, "joint_attention_dim": 4096, "pooled_projection_dim": 768,
         "in_channels": 64, "guidance_embeds": True, "axes_dims_rope": [16, 56, 56], "num_layers": 1, "num_single_layers": 1}


def random_flux_blocks(dtype):
    """Random weights of FLUX.1's embedders, one double and one single block and the final layer."""
    h, mlp, c = 3072, 12288, FLUX1
    shapes = {"x_embedder": (h, 64), "context_embedder": (h, c["joint_attention_dim"]), "norm_out.linear": (2 * h, h),
              "proj_out": (64, h)}
    for e, i in (("timestep_embedder", 256), ("guidance_embedder", 256), ("text_embedder", 768)):
        shapes[f"time_text_embed.{e}.linear_1"] = (h, i)
        shapes[f"time_text_embed.{e}.linear_2"] = (h, h)
    p = "transformer_blocks.0."
    for n in ("norm1.linear", "norm1_context.linear"):
        shapes[p + n] = (6 * h, h)
    for n in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"):
        shapes[p + "attn." + n] = (h, h)
    for ff in ("ff", "ff_context"):
        shapes[p + ff + ".net.0.proj"] = (mlp, h)
        shapes[p + ff + ".net.2"] = (h, mlp)
    p = "single_transformer_blocks.0."
    shapes.update({p + "norm.linear": (3 * h, h), p + "attn.to_q": (h, h), p + "attn.to_k": (h, h), p + "attn.to_v": (h, h),
                   p + "proj_mlp": (mlp, h), p + "proj_out": (h, h + mlp)})
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for name, (o, i) in shapes.items():
        sd[name + ".weight"] = (torch.randn(o, i, generator=gen) * (1 / math.sqrt(i))).to(dtype)
        sd[name + ".bias"] = (torch.randn(o, generator=gen) * 0.01).to(dtype)
    for p, names in (("transformer_blocks.0.attn.", ("norm_q", "norm_k", "norm_added_q", "norm_added_k")),
                     ("single_transformer_blocks.0.attn.", ("norm_q", "norm_k"))):
        for n in names:
            sd[p + n + ".weight"] = torch.ones(128).to(dtype)
    return sd


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bench(size, runs, dtype):
    sd = random_flux_blocks(dtype)
    lat = size // 8
    n, l = (lat // 2) ** 2, 512
    gen = torch.Generator().manual_seed(1)
    img = torch.randn(1, n, 64, generator=gen).to(dtype)
    txt = torch.randn(1, l, 4096, generator=gen).to(dtype)
    pooled = torch.randn(1, 768, generator=gen).to(dtype)
    ids = torch.zeros(n, 3)
    ids[:, 1] = torch.arange(lat // 2).repeat_interleave(lat // 2).float()
    ids[:, 2] = torch.arange(lat // 2).repeat(lat // 2).float()
    best = None
    for r in range(runs + 1):  # the first run warms up
        times = {}
        t0, c0 = time.perf_counter(), cpu_seconds()
        with torch.inference_mode():
            forward(sd, FLUX1, img, txt, pooled, torch.tensor([0.5]), torch.tensor([3.5]), ids, torch.zeros(l, 3), times)
        total, total_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        if r > 0 and (best is None or total < best["total"]):
            best = {"total": total, "double": times["double"][0], "single": times["single"][0],
                    "double_cpu": times["double_cpu"][0], "single_cpu": times["single_cpu"][0], "total_cpu": total_cpu}
    weights = sum(t.numel() * t.element_size() for t in sd.values())
    s = n + l
    h, mlp = 3072, 12288
    block_flop = 2 * s * (4 * h * h + 2 * h * mlp) + 4 * s * s * h
    other = best["total"] - best["double"] - best["single"]
    print(json.dumps({"impl": "pytorch", "format": str(dtype).replace("torch.", ""), "compute": str(dtype).replace("torch.", ""),
                      "size": size, "image_tokens": n, "text_tokens": l,
                      "double_s": best["double"], "single_s": best["single"], "other_s": other,
                      "step_s": 19 * best["double"] + 38 * best["single"] + other,
                      "block_gflop": block_flop / 1e9,
                      "double_gflops": block_flop / 1e9 / best["double"], "single_gflops": block_flop / 1e9 / best["single"],
                      "double_cpu_s": best["double_cpu"], "single_cpu_s": best["single_cpu"],
                      "step_cpu_s": 19 * best["double_cpu"] + 38 * best["single_cpu"] + best["total_cpu"] - best["double_cpu"] - best["single_cpu"],
                      "block_gflop_per_cpu_s": 2 * block_flop / 1e9 / (best["double_cpu"] + best["single_cpu"]),
                      "weights_mib": weights / 2**20,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "threads": torch.get_num_threads(), "load": os.getloadavg()[0]}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        check()
    if a.bench:
        bench(a.size, a.runs, getattr(torch, a.dtype))


if __name__ == "__main__":
    main()
