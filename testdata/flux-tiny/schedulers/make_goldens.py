"""Goldens for flux_denoise's heun and lcm schedulers on the tiny FLUX fixture.

InvokeAI's flux_denoise (main 8e71a8a5, diffusers 0.39.0) builds diffusers' FlowMatchHeunDiscreteScheduler
or FlowMatchLCMScheduler with num_train_timesteps=1000 and nothing else, and calls
set_timesteps(num_inference_steps=n): both then use their own unshifted schedule, σ = linspace(1000·σmax,
1000·σmin, n)/1000 in float64 with σmax = 1 and σmin = float32(1/1000), rounded to float32, and 0 appended.
The model gets float32(t/1000) of the scheduler's float32 timestep t = σ·1000.

  heun: 2n − 1 model calls. A first-order call at σi takes x' = x + v·(σi+1 − σi); the second-order call at
        σi+1 (on x') averages the two slopes and restarts from x; the last step (to σ = 0) is first order only.
        The slope is recomputed as (x − (x − v·σ))/σ, in float32, as diffusers does.
  lcm:  n model calls; x0 = x − σi·v, then x = (1 − σi+1)·x0 + σi+1·ε with fresh ε ~ N(0, 1) each step.
        InvokeAI draws ε from torch's global generator (not reproducible from the seed); invokego draws it,
        float32 in the packed shape, from a CPU generator seeded with seed ^ 0xFFFFFFFF (the seed its SD
        schedulers use for their own noise).

This is a re-implementation of those published algorithms (not diffusers' code), driving the plain-torch
transformer of bench/fluxtorch.py (which matches the transformer goldens exactly) from the stored embeddings
and noise of pipeline/invokeai_{dev,schnell}_cat_s0_64x64. Run from the repository root with Debian's
python3-torch (1.13) and python3-numpy (1.24):

    /usr/bin/python3 testdata/flux-tiny/schedulers/make_goldens.py
"""

import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import fluxtorch as ft  # noqa: E402
import sdtorch as st  # noqa: E402

TINY = os.path.join(ROOT, "testdata", "flux-tiny")
OUT = os.path.dirname(os.path.abspath(__file__))


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def scheduler_sigmas(n):
    """The unshifted FlowMatch schedule: float32 σ (n values) and timesteps σ·1000."""
    sigma_min = float(np.float32(1.0) / np.float32(1000.0))  # float32(1/1000), as a Python float
    ts = np.linspace(1.0 * 1000, sigma_min * 1000, n)
    sig = torch.from_numpy(ts / 1000).to(torch.float32)
    return sig, sig * 1000


def model_t(timestep):
    return torch.tensor([timestep.item() / 1000], dtype=torch.float32)


def run(variant, sampler, steps, seed):
    folder = os.path.join(TINY, "models", f"flux-{variant}-tiny", "transformer")
    sd = st.load_safetensors(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    cfg = json.load(open(os.path.join(folder, "config.json")))
    g = st.load_safetensors(os.path.join(TINY, "pipeline", f"invokeai_{variant}_cat_s0_64x64.latents.safetensors"))
    txt, pooled = g["prompt_embeds"], g["pooled_prompt_embeds"]
    x = g["initial_latents"].clone()  # packed float16 noise, [1, 16, 64]
    lh = lw = 8
    ids = torch.zeros(lh // 2 * lw // 2, 3)
    for i in range(lh // 2):
        for j in range(lw // 2):
            ids[i * (lw // 2) + j] = torch.tensor([0.0, i, j])
    txt_ids = torch.zeros(txt.shape[1], 3)
    guidance = torch.tensor([3.5]) if cfg["guidance_embeds"] else None

    def model(x, timestep):
        with torch.inference_mode():
            return ft.forward(sd, cfg, x, txt, pooled, model_t(timestep), guidance, ids, txt_ids)

    sig, ts = scheduler_sigmas(steps)
    sig = torch.cat([sig, torch.zeros(1)])
    out = {"sigmas": sig, "timesteps": ts}
    step_latents, call_t = [], []
    if sampler == "heun":
        for i in range(steps):
            s, s_next = sig[i], sig[i + 1]
            call_t.append(model_t(ts[i]))
            v = model(x, ts[i])
            d1 = (x - (x - v * s)) / s
            dt = s_next - s
            x1 = x + d1 * dt
            if i == steps - 1:  # to σ = 0: first order only
                x = x1
            else:
                call_t.append(model_t(ts[i + 1]))
                v2 = model(x1, ts[i + 1])
                d2 = (x1 - (x1 - v2 * s_next)) / s_next
                x = x + (0.5 * (d1 + d2)) * dt
            step_latents.append(x.clone())
    else:
        gen = torch.Generator().manual_seed(seed ^ 0xFFFFFFFF)
        for i in range(steps):
            s, s_next = sig[i], sig[i + 1]
            call_t.append(model_t(ts[i]))
            v = model(x, ts[i])
            x0 = x - s * v
            eps = torch.randn(x0.shape, generator=gen, dtype=torch.float32)
            x = (1 - s_next) * x0 + s_next * eps
            step_latents.append(x.clone())
    out["model_timesteps"] = torch.cat(call_t)
    out["step_latents"] = torch.stack(step_latents)
    out["final_latents"] = x
    return out


def main():
    for variant, steps in (("dev", 6), ("schnell", 4)):
        for sampler in ("heun", "lcm"):
            o = run(variant, sampler, steps, seed=0)
            path = os.path.join(OUT, f"invokeai_{variant}_cat_s0_64x64.{sampler}.safetensors")
            save(path, o)
            print(path, "calls", o["model_timesteps"].numel(), "max |x|", o["final_latents"].abs().max().item())


if __name__ == "__main__":
    main()
