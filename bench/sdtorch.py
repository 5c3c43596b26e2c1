"""Compact Stable Diffusion networks in plain torch, for the `make bench` peer.

The modules follow diffusers' UNet2DConditionModel and AutoencoderKL (decoder)
and transformers' CLIPTextModel closely enough that their state_dict keys are
the diffusers / transformers names, so diffusers-layout safetensors load with
strict=True. Only what SD-1.x / SD-2.x / SDXL inference needs is here.

No diffusers, transformers or safetensors package is used: `load_safetensors`
reads the format directly (u64 LE header length, JSON header, raw bytes).
"""

import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------
# safetensors

_DTYPES = {
    "F64": (np.float64, torch.float64),
    "F32": (np.float32, torch.float32),
    "F16": (np.float16, torch.float16),
    "I64": (np.int64, torch.int64),
    "I32": (np.int32, torch.int32),
    "I16": (np.int16, torch.int16),
    "I8": (np.int8, torch.int8),
    "U8": (np.uint8, torch.uint8),
    "BOOL": (np.bool_, torch.bool),
}


def load_safetensors(path):
    """Returns {name: tensor} for every tensor of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short")
    (hlen,) = struct.unpack("<Q", raw[:8])
    if hlen > len(raw) - 8:
        raise ValueError(f"{path}: header length {hlen} beyond file")
    header = json.loads(raw[8 : 8 + hlen])
    body = memoryview(raw)[8 + hlen :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if not (0 <= start <= end <= len(body)):
            raise ValueError(f"{path}: {name} offsets {start}..{end} outside data")
        dtype = info["dtype"]
        if dtype == "BF16":
            u16 = np.frombuffer(body[start:end], dtype=np.uint16).astype(np.uint32) << 16
            t = torch.from_numpy(u16.view(np.float32).reshape(shape)).to(torch.bfloat16)
        else:
            npdt, _ = _DTYPES[dtype]
            arr = np.frombuffer(body[start:end], dtype=npdt)
            if arr.size != int(np.prod(shape, dtype=np.int64)):
                raise ValueError(f"{path}: {name} has {arr.size} elements for shape {shape}")
            t = torch.from_numpy(arr.reshape(shape).copy())
        out[name] = t
    return out


def load_json(path):
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# shared pieces


def timestep_embedding(t, dim, flip_sin_to_cos, freq_shift, max_period=10000):
    """diffusers' get_timestep_embedding: sinusoidal features of t [N]."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32)
    exponent = exponent / (half - freq_shift)
    freqs = torch.exp(exponent)
    args = t[:, None].float() * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock(nn.Module):
    """ResnetBlock2D (time conditioning optional, as in the VAE)."""

    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb_act=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(temb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


def attention(q, k, v, heads, causal=False):
    """Multi-head scaled dot-product attention on [N, L, C] tensors."""
    n, lq, c = q.shape
    lk = k.shape[1]
    d = c // heads
    q = q.reshape(n, lq, heads, d).transpose(1, 2).reshape(n * heads, lq, d)
    k = k.reshape(n, lk, heads, d).transpose(1, 2).reshape(n * heads, lk, d)
    v = v.reshape(n, lk, heads, d).transpose(1, 2).reshape(n * heads, lk, d)
    scale = d ** -0.5
    ATTN_FLOPS[0] += 4 * n * heads * lq * lk * d  # QKᵀ and P·V
    # Chunk over batch·heads so the score matrix stays cache- and memory-friendly
    # at 4096 tokens (a 1 GB [16, 4096, 4096] matrix otherwise).
    out = torch.empty_like(q)
    step = max(1, ATTN_CHUNK_ELEMS // (lq * lk)) if ATTN_CHUNK_ELEMS else n * heads
    for s in range(0, n * heads, step):
        e = min(s + step, n * heads)
        scores = torch.baddbmm(
            torch.empty(e - s, lq, lk, dtype=q.dtype), q[s:e], k[s:e].transpose(1, 2), beta=0, alpha=scale
        )
        if causal:
            mask = torch.full((lq, lk), float("-inf"), dtype=scores.dtype).triu(1)
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        out[s:e] = torch.bmm(probs, v[s:e])
    return out.reshape(n, heads, lq, d).transpose(1, 2).reshape(n, lq, c)


# Score-matrix elements per attention chunk; 0 means all heads at once.
# torch_bench.py may change it.
ATTN_CHUNK_ELEMS = 0

# Running count of attention-product FLOPs (for torch_bench.py's analytic count).
ATTN_FLOPS = [0]


# --------------------------------------------------------------------------
# UNet2DConditionModel


class Attention(nn.Module):
    """diffusers Attention as used in BasicTransformerBlock (no q/k/v bias)."""

    def __init__(self, dim, heads, kv_dim=None, bias=False):
        super().__init__()
        kv_dim = kv_dim or dim
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(kv_dim, dim, bias=bias)
        self.to_v = nn.Linear(kv_dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        o = attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads)
        return self.to_out[0](o)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        # net.0 = GEGLU, net.1 = dropout (no weights), net.2 = Linear
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, ctx_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, kv_dim=ctx_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2D(nn.Module):
    def __init__(self, c, heads, ctx_dim, layers, groups, linear_proj):
        super().__init__()
        self.linear_proj = linear_proj
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        if linear_proj:
            self.proj_in = nn.Linear(c, c)
            self.proj_out = nn.Linear(c, c)
        else:
            self.proj_in = nn.Conv2d(c, c, 1)
            self.proj_out = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, heads, ctx_dim) for _ in range(layers)])

    def forward(self, x, ctx):
        n, c, h, w = x.shape
        res = x
        x = self.norm(x)
        if self.linear_proj:
            x = self.proj_in(x.permute(0, 2, 3, 1).reshape(n, h * w, c))
        else:
            x = self.proj_in(x).permute(0, 2, 3, 1).reshape(n, h * w, c)
        for b in self.transformer_blocks:
            x = b(x, ctx)
        if self.linear_proj:
            x = self.proj_out(x).reshape(n, h, w, c).permute(0, 3, 1, 2)
        else:
            x = self.proj_out(x.reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous(memory_format=MEMORY_FORMAT))
        return x + res


# torch.contiguous_format or torch.channels_last; torch_bench.py may change it.
MEMORY_FORMAT = torch.contiguous_format


class Sampler(nn.Module):
    """Downsample2D / Upsample2D: a 3×3 conv under the name `conv`."""

    def __init__(self, c, stride):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=stride, padding=1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList()


def _per_block(v, n):
    if v is None:
        return None
    if isinstance(v, int):
        return [v] * n
    return list(v)


class UNet(nn.Module):
    """UNet2DConditionModel for SD-1.x/2.x (and SDXL's text_time conditioning)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch = list(cfg.get("block_out_channels", (320, 640, 1280, 1280)))
        n = len(ch)
        lpb = cfg.get("layers_per_block", 2)
        groups = cfg.get("norm_num_groups", 32)
        eps = cfg.get("norm_eps", 1e-5)
        ctx_dim = cfg.get("cross_attention_dim", 1280)
        heads = _per_block(cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8), n)
        tl = _per_block(cfg.get("transformer_layers_per_block", 1), n)
        linear = cfg.get("use_linear_projection", False)
        down_types = cfg["down_block_types"]
        up_types = cfg["up_block_types"]
        self.flip = cfg.get("flip_sin_to_cos", True)
        self.shift = cfg.get("freq_shift", 0)
        temb = ch[0] * 4
        self.conv_in = nn.Conv2d(cfg.get("in_channels", 4), ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        self.add_time_dim = None
        if cfg.get("addition_embed_type") == "text_time":
            self.add_time_dim = cfg["addition_time_embed_dim"]
            self.add_embedding = TimestepEmbedding(cfg["projection_class_embeddings_input_dim"], temb)
        self.down_blocks = nn.ModuleList()
        prev = ch[0]
        for i in range(n):
            b = Block()
            for j in range(lpb):
                b.resnets.append(ResnetBlock(prev if j == 0 else ch[i], ch[i], temb, groups, eps))
                if down_types[i] == "CrossAttnDownBlock2D":
                    b.attentions.append(Transformer2D(ch[i], heads[i], ctx_dim, tl[i], groups, linear))
            if i < n - 1:
                b.downsamplers = nn.ModuleList([Sampler(ch[i], 2)])
            self.down_blocks.append(b)
            prev = ch[i]
        self.mid_block = Block()
        self.mid_block.resnets.append(ResnetBlock(ch[-1], ch[-1], temb, groups, eps))
        self.mid_block.attentions.append(Transformer2D(ch[-1], heads[-1], ctx_dim, tl[-1], groups, linear))
        self.mid_block.resnets.append(ResnetBlock(ch[-1], ch[-1], temb, groups, eps))
        self.up_blocks = nn.ModuleList()
        rch, rheads, rtl = ch[::-1], heads[::-1], tl[::-1]
        prev_out = rch[0]
        for i in range(n):
            out = rch[i]
            cin = rch[min(i + 1, n - 1)]
            b = Block()
            for j in range(lpb + 1):
                skip = cin if j == lpb else out
                rin = prev_out if j == 0 else out
                b.resnets.append(ResnetBlock(rin + skip, out, temb, groups, eps))
                if up_types[i] == "CrossAttnUpBlock2D":
                    b.attentions.append(Transformer2D(out, rheads[i], ctx_dim, rtl[i], groups, linear))
            if i < n - 1:
                b.upsamplers = nn.ModuleList([Sampler(out, 1)])
            self.up_blocks.append(b)
            prev_out = out
        self.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg.get("out_channels", 4), 3, padding=1)

    def forward(self, sample, t, ctx, text_embeds=None, time_ids=None):
        n = sample.shape[0]
        t = torch.as_tensor(t)
        if t.dim() == 0:
            t = t[None]
        t = t.expand(n)
        dtype = self.conv_in.weight.dtype
        emb = self.time_embedding(timestep_embedding(t, self.conv_in.out_channels, self.flip, self.shift).to(dtype))
        if self.add_time_dim is not None:
            te = timestep_embedding(time_ids.flatten(), self.add_time_dim, self.flip, self.shift)
            add = torch.cat([text_embeds, te.reshape(n, -1).to(text_embeds.dtype)], dim=-1).to(dtype)
            emb = emb + self.add_embedding(add)
        emb = F.silu(emb)
        h = self.conv_in(sample)
        skips = [h]
        for b in self.down_blocks:
            for j, r in enumerate(b.resnets):
                h = r(h, emb)
                if len(b.attentions):
                    h = b.attentions[j](h, ctx)
                skips.append(h)
            if hasattr(b, "downsamplers"):
                h = b.downsamplers[0].conv(h)
                skips.append(h)
        h = self.mid_block.resnets[0](h, emb)
        h = self.mid_block.attentions[0](h, ctx)
        h = self.mid_block.resnets[1](h, emb)
        for b in self.up_blocks:
            for j, r in enumerate(b.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if len(b.attentions):
                    h = b.attentions[j](h, ctx)
            if hasattr(b, "upsamplers"):
                size = skips[-1].shape[-2:]
                h = F.interpolate(h, size=size, mode="nearest")
                h = b.upsamplers[0].conv(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# --------------------------------------------------------------------------
# AutoencoderKL decoder


class VAEAttention(nn.Module):
    """The VAE mid-block's single-head spatial self-attention (with biases)."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.to_q = nn.Linear(c, c)
        self.to_k = nn.Linear(c, c)
        self.to_v = nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        n, c, h, w = x.shape
        t = self.group_norm(x).reshape(n, c, h * w).transpose(1, 2)
        o = attention(self.to_q(t), self.to_k(t), self.to_v(t), 1)
        o = self.to_out[0](o).transpose(1, 2).reshape(n, c, h, w)
        return o + x


class VAEDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = list(cfg.get("block_out_channels", (128, 256, 512, 512)))
        n = len(ch)
        lpb = cfg.get("layers_per_block", 2)
        groups = cfg.get("norm_num_groups", 32)
        eps = 1e-6
        self.conv_in = nn.Conv2d(cfg.get("latent_channels", 4), ch[-1], 3, padding=1)
        self.mid_block = Block()
        self.mid_block.resnets.append(ResnetBlock(ch[-1], ch[-1], 0, groups, eps))
        self.mid_block.attentions.append(VAEAttention(ch[-1], groups))
        self.mid_block.resnets.append(ResnetBlock(ch[-1], ch[-1], 0, groups, eps))
        self.up_blocks = nn.ModuleList()
        rch = ch[::-1]
        prev = rch[0]
        for i in range(n):
            b = Block()
            for j in range(lpb + 1):
                b.resnets.append(ResnetBlock(prev if j == 0 else rch[i], rch[i], 0, groups, eps))
            if i < n - 1:
                b.upsamplers = nn.ModuleList([Sampler(rch[i], 1)])
            self.up_blocks.append(b)
            prev = rch[i]
        self.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg.get("out_channels", 3), 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid_block.resnets[0](h)
        h = self.mid_block.attentions[0](h)
        h = self.mid_block.resnets[1](h)
        for b in self.up_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, "upsamplers"):
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = b.upsamplers[0].conv(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VAEDecode(nn.Module):
    """post_quant_conv + decoder: AutoencoderKL.decode(z).sample."""

    def __init__(self, cfg):
        super().__init__()
        lc = cfg.get("latent_channels", 4)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)
        self.decoder = VAEDecoder(cfg)

    def forward(self, z):
        return self.decoder(self.post_quant_conv(z))


def decoder_state(sd):
    """The decode-side entries of a full AutoencoderKL state dict."""
    return {k: v for k, v in sd.items() if k.startswith("decoder.") or k.startswith("post_quant_conv.")}


# --------------------------------------------------------------------------
# CLIPTextModel (transformers)


class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x):
        o = attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, causal=True)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, d, inner, act):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(d, inner)
        self.fc2 = nn.Linear(inner, d)

    def forward(self, x):
        h = self.fc1(x)
        if self.act == "quick_gelu":
            h = h * torch.sigmoid(1.702 * h)
        else:
            h = F.gelu(h)
        return self.fc2(h)


class CLIPLayer(nn.Module):
    def __init__(self, d, heads, inner, act, eps):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = CLIPAttention(d, heads)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = CLIPMLP(d, inner, act)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, vocab, d, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(positions, d)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        return self.token_embedding(ids) + self.position_embedding(pos)[None]


class CLIPEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                CLIPLayer(
                    cfg["hidden_size"],
                    cfg["num_attention_heads"],
                    cfg["intermediate_size"],
                    cfg.get("hidden_act", "quick_gelu"),
                    cfg.get("layer_norm_eps", 1e-5),
                )
                for _ in range(cfg["num_hidden_layers"])
            ]
        )


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = CLIPEmbeddings(cfg["vocab_size"], cfg["hidden_size"], cfg.get("max_position_embeddings", 77))
        self.encoder = CLIPEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=cfg.get("layer_norm_eps", 1e-5))


class CLIPText(nn.Module):
    """CLIPTextModel, or CLIPTextModelWithProjection when projection=True."""

    def __init__(self, cfg, projection=False):
        super().__init__()
        self.cfg = cfg
        self.text_model = CLIPTextTransformer(cfg)
        self.text_projection = (
            nn.Linear(cfg["hidden_size"], cfg.get("projection_dim", 512), bias=False) if projection else None
        )

    def forward(self, ids):
        tm = self.text_model
        x = tm.embeddings(ids)
        hidden = [x]
        for layer in tm.encoder.layers:
            x = layer(x)
            hidden.append(x)
        last = tm.final_layer_norm(x)
        eos = self.cfg.get("eos_token_id", 2)
        if eos == 2:
            pos = ids.argmax(dim=-1)
        else:
            pos = (ids == eos).int().argmax(dim=-1)
        pooled = last[torch.arange(ids.shape[0]), pos]
        out = {"last_hidden_state": last, "pooler_output": pooled, "hidden_states": hidden}
        if self.text_projection is not None:
            out["text_embeds"] = self.text_projection(pooled)
        return out


def load_module(module, sd, ignore=("text_model.embeddings.position_ids",)):
    sd = {k: v for k, v in sd.items() if k not in ignore}
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{type(module).__name__}: missing {missing[:5]} unexpected {unexpected[:5]}")
    return module.eval()


def model_path(*parts):
    return os.path.join(*parts)
