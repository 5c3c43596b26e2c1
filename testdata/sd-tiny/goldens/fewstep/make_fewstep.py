"""Dev-time generator of the few-step scheduler goldens in this folder.

Runs diffusers 0.39.0's own LCMScheduler, TCDScheduler, EulerAncestralDiscreteScheduler and
EulerDiscreteScheduler on SD-1.5's scheduler config with timestep_spacing "trailing" (how SD-Turbo
and SDXL-Turbo ship), 1, 2 and 4 steps, started the way InvokeAI starts text-to-image: add_noise on
zeros at the first timestep, step noise from a torch.Generator seeded seed ^ 0xFFFFFFFF. The model
outputs are fixed random tensors (no UNet). Every noise tensor a step draws is recorded too.

Usage (see testdata/README.md): with diffusers v0.39.0's src/ on PYTHONPATH and stand-ins for
huggingface_hub/safetensors importable (nothing here loads or downloads files):

    PYTHONPATH=<diffusers-0.39.0>/src:<stub dir> /usr/bin/python3 make_fewstep.py <out dir>
"""
import json
import os
import struct
import sys
import types

try:
    import sitecustomize_stub  # noqa: F401  (stand-ins for huggingface_hub and safetensors)
except ImportError:
    pass
import numpy as np
import torch


class _NoDevice(types.SimpleNamespace):
    def __getattr__(self, name):
        return lambda *a, **k: 0


# diffusers 0.39 looks up accelerator back ends torch 1.13 does not have.
for _name in ("xpu", "mps", "npu", "mlu", "musa"):
    if not hasattr(torch, _name):
        setattr(torch, _name, _NoDevice())

import diffusers  # noqa: E402
from diffusers.schedulers import (  # noqa: E402
    scheduling_euler_ancestral_discrete,
    scheduling_euler_discrete,
    scheduling_lcm,
    scheduling_tcd,
)

SEED = 42
SHAPE = (1, 4, 8, 8)
HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_CONFIG = os.path.join(HERE, "..", "..", "models", "sd15-tiny", "scheduler", "scheduler_config.json")

# InvokeAI name -> (module, class, step kwargs InvokeAI passes besides the generator).
CASES = {
    "lcm": (scheduling_lcm, "LCMScheduler", {}),
    "tcd": (scheduling_tcd, "TCDScheduler", {"eta": 1.0}),  # InvokeAI's denoise passes eta=1
    "tcd_eta0.3": (scheduling_tcd, "TCDScheduler", {"eta": 0.3}),  # diffusers' default gamma
    "euler_a": (scheduling_euler_ancestral_discrete, "EulerAncestralDiscreteScheduler", {}),
    "euler": (scheduling_euler_discrete, "EulerDiscreteScheduler", {}),
}
STEPS = (1, 2, 4)


def randn(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g, dtype=torch.float32)


def save(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy())
        dt = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def run(name, steps, model_config):
    module, cls_name, kwargs = CASES[name]
    cls = getattr(module, cls_name)
    sched = cls.from_config(model_config)
    sched.set_timesteps(steps)

    drawn = []
    original = module.randn_tensor

    def recording(*a, **k):
        t = original(*a, **k)
        drawn.append(t.clone())
        return t

    module.randn_tensor = recording
    try:
        init_noise = randn(SEED)
        t0 = sched.timesteps[0:1]
        latents = sched.add_noise(torch.zeros(SHAPE), init_noise, t0)
        out = {"timesteps": sched.timesteps.clone(), "init_noise": init_noise, "initial_latents": latents.clone()}
        if hasattr(sched, "sigmas") and sched.sigmas is not None:
            out["sigmas"] = sched.sigmas.clone().to(torch.float32)
        gen = torch.Generator().manual_seed(SEED ^ 0xFFFFFFFF)
        inputs, outputs, prevs, x0s, noises = [], [], [], [], []
        for i, t in enumerate(sched.timesteps):
            inputs.append(sched.scale_model_input(latents, t))
            eps = randn(1000 + i)
            outputs.append(eps)
            before = len(drawn)
            res = sched.step(eps, t, latents, generator=gen, **kwargs)
            new = drawn[before:]
            assert len(new) <= 1, (name, i, len(new))
            noises.append(new[0] if new else torch.zeros(SHAPE))  # zeros: this step drew none
            latents = res.prev_sample
            prevs.append(latents.clone())
            # LCM: denoised; TCD: pred_noised_sample (x0 taken to s); Euler: pred_original_sample.
            for field in ("denoised", "pred_noised_sample", "pred_original_sample"):
                if getattr(res, field, None) is not None:
                    x0s.append(getattr(res, field).clone())
                    break
        out["model_input"] = torch.stack(inputs)
        out["model_output"] = torch.stack(outputs)
        out["step_noise"] = torch.stack(noises)
        out["prev_sample"] = torch.stack(prevs)
        out["step_aux"] = torch.stack(x0s)
        out["final_latents"] = latents.clone()
    finally:
        module.randn_tensor = original
    resolved = {k: v for k, v in dict(sched.config).items() if not k.startswith("_")}
    return out, resolved


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else HERE
    with open(MODEL_CONFIG) as f:
        model_config = json.load(f)
    model_config["timestep_spacing"] = "trailing"
    manifest = {
        "versions": {"diffusers": diffusers.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "model_config": model_config,
        "seed": SEED,
        "step_generator_seed": SEED ^ 0xFFFFFFFF,
        "model_output_seeds": "1000 + step index",
        "shape": list(SHAPE),
        "cases": {},
    }
    for name in CASES:
        for steps in STEPS:
            out, resolved = run(name, steps, model_config)
            file = f"{name}_{steps}.safetensors"
            save(os.path.join(outdir, file), out, {"scheduler": name, "steps": str(steps)})
            manifest["cases"][file] = {
                "scheduler": name,
                "class": CASES[name][1],
                "steps": steps,
                "step_kwargs": CASES[name][2],
                "config": resolved,
                "timesteps": [float(t) for t in out["timesteps"]],
            }
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, default=str)
        f.write("\n")


if __name__ == "__main__":
    main()
