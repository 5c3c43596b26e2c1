"""Dev-time generator of the few-step scheduler goldens in this folder.

Runs diffusers 0.39.0's own scheduler classes behind InvokeAI's scheduler names (LCM and TCD, for
which the few-step path exists, and every other name invokego implements) on SD-1.5's scheduler
config with timestep_spacing "trailing" (how SD-Turbo and SDXL-Turbo ship), 1, 2 and 4 steps, started the way InvokeAI starts text-to-image: add_noise on
zeros at the first timestep, step noise from a torch.Generator seeded seed ^ 0xFFFFFFFF. The model
outputs are fixed random tensors (no UNet). Every noise tensor a step draws is recorded too.

Usage (see testdata/README.md): with diffusers v0.39.0's src/ on PYTHONPATH and stand-ins for
huggingface_hub/safetensors importable (nothing here loads or downloads files):

    PYTHONPATH=<diffusers-0.39.0>/src:<stub dir> /usr/bin/python3 make_fewstep.py <out dir>
"""
import inspect
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
    scheduling_ddim,
    scheduling_ddpm,
    scheduling_deis_multistep,
    scheduling_dpmsolver_multistep,
    scheduling_dpmsolver_singlestep,
    scheduling_euler_ancestral_discrete,
    scheduling_euler_discrete,
    scheduling_heun_discrete,
    scheduling_k_dpm_2_ancestral_discrete,
    scheduling_k_dpm_2_discrete,
    scheduling_lcm,
    scheduling_lms_discrete,
    scheduling_pndm,
    scheduling_tcd,
    scheduling_unipc_multistep,
)

SEED = 42
SHAPE = (1, 4, 8, 8)
HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_CONFIG = os.path.join(HERE, "..", "..", "models", "sd15-tiny", "scheduler", "scheduler_config.json")

K0, K1 = {"use_karras_sigmas": False}, {"use_karras_sigmas": True}
SDE = {"algorithm_type": "sde-dpmsolver++"}
# InvokeAI scheduler name -> (module, class, config extras from InvokeAI's SCHEDULER_MAP, step kwargs
# InvokeAI passes besides the generator). dpmpp_sde(_k) is left out: it needs torchsde's Brownian tree.
CASES = {
    "lcm": (scheduling_lcm, "LCMScheduler", {}, {}),
    "tcd": (scheduling_tcd, "TCDScheduler", {}, {"eta": 1.0}),  # InvokeAI's denoise passes eta=1
    "tcd_eta0.3": (scheduling_tcd, "TCDScheduler", {}, {"eta": 0.3}),  # diffusers' default gamma
    "euler_a": (scheduling_euler_ancestral_discrete, "EulerAncestralDiscreteScheduler", {}, {}),
    "euler": (scheduling_euler_discrete, "EulerDiscreteScheduler", K0, {}),
    "euler_k": (scheduling_euler_discrete, "EulerDiscreteScheduler", K1, {}),
    "ddim": (scheduling_ddim, "DDIMScheduler", {}, {}),
    "ddpm": (scheduling_ddpm, "DDPMScheduler", {}, {}),
    "pndm": (scheduling_pndm, "PNDMScheduler", {}, {}),
    "lms": (scheduling_lms_discrete, "LMSDiscreteScheduler", K0, {}),
    "lms_k": (scheduling_lms_discrete, "LMSDiscreteScheduler", K1, {}),
    "heun": (scheduling_heun_discrete, "HeunDiscreteScheduler", K0, {}),
    "heun_k": (scheduling_heun_discrete, "HeunDiscreteScheduler", K1, {}),
    "kdpm_2": (scheduling_k_dpm_2_discrete, "KDPM2DiscreteScheduler", K0, {}),
    "kdpm_2_k": (scheduling_k_dpm_2_discrete, "KDPM2DiscreteScheduler", K1, {}),
    "kdpm_2_a": (scheduling_k_dpm_2_ancestral_discrete, "KDPM2AncestralDiscreteScheduler", K0, {}),
    "kdpm_2_a_k": (scheduling_k_dpm_2_ancestral_discrete, "KDPM2AncestralDiscreteScheduler", K1, {}),
    "deis": (scheduling_deis_multistep, "DEISMultistepScheduler", K0, {}),
    "deis_k": (scheduling_deis_multistep, "DEISMultistepScheduler", K1, {}),
    "dpmpp_2s": (scheduling_dpmsolver_singlestep, "DPMSolverSinglestepScheduler", {**K0, "solver_order": 2}, {}),
    "dpmpp_2s_k": (scheduling_dpmsolver_singlestep, "DPMSolverSinglestepScheduler", {**K1, "solver_order": 2}, {}),
    "dpmpp_2m": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K0, "solver_order": 2}, {}),
    "dpmpp_2m_k": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K1, "solver_order": 2}, {}),
    "dpmpp_2m_sde": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K0, "solver_order": 2, **SDE}, {}),
    "dpmpp_2m_sde_k": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K1, "solver_order": 2, **SDE}, {}),
    "dpmpp_3m": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K0, "solver_order": 3}, {}),
    "dpmpp_3m_k": (scheduling_dpmsolver_multistep, "DPMSolverMultistepScheduler", {**K1, "solver_order": 3}, {}),
    "unipc": (scheduling_unipc_multistep, "UniPCMultistepScheduler", K0, {}),
    "unipc_k": (scheduling_unipc_multistep, "UniPCMultistepScheduler", K1, {}),
}
STEPS = (1, 2, 4)


def randn(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g, dtype=torch.float32)


def save(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy())
        dt = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}[a.dtype]
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
    module, cls_name, extras, kwargs = CASES[name]
    cls = getattr(module, cls_name)
    sched = cls.from_config({**model_config, **extras})
    # The config as resolved, before set_timesteps (DPMSolverSinglestep rewrites lower_order_final there).
    resolved = {k: v for k, v in dict(sched.config).items() if not k.startswith("_")}
    sched.set_timesteps(steps)

    drawn = []
    original = getattr(module, "randn_tensor", None)  # deterministic schedulers do not import it

    def recording(*a, **k):
        t = original(*a, **k)
        drawn.append(t.clone())
        return t

    if original is not None:
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
            step_kwargs = dict(kwargs)
            if "generator" in inspect.signature(sched.step).parameters:  # as InvokeAI decides
                step_kwargs["generator"] = gen
            res = sched.step(eps, t, latents, **step_kwargs)
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
        if len(x0s) == len(prevs):  # PNDM's output has no auxiliary field
            out["step_aux"] = torch.stack(x0s)
        out["final_latents"] = latents.clone()
    finally:
        if original is not None:
            module.randn_tensor = original
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
                "invokeai_name": name.split("_eta")[0],
                "class": CASES[name][1],
                "steps": steps,
                "config_extras": CASES[name][2],
                "step_kwargs": CASES[name][3],
                "config": resolved,
                "timesteps": [float(t) for t in out["timesteps"]],
            }
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, default=str)
        f.write("\n")


if __name__ == "__main__":
    main()
