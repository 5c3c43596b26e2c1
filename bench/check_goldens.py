"""Checks bench/sdtorch.py against the sd-tiny fixture goldens (diffusers 0.25.1 /
transformers outputs), so the PyTorch peer in `make bench` computes the same
networks as diffusers. Prints max abs error / max |ref| per output and exits 1
when any exceeds 1e-4 relative.

Usage: python3 bench/check_goldens.py [FIXTURES_DIR]
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdtorch as st  # noqa: E402

TOL = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "testdata", "sd-tiny")
FIX = os.path.normpath(FIX)
MODELS = os.path.join(FIX, "models")
GOLD = os.path.join(FIX, "goldens")

failures = []


def compare(name, got, ref):
    got = got.detach().double()
    ref = ref.double()
    if tuple(got.shape) != tuple(ref.shape):
        failures.append(name)
        print(f"FAIL {name}: shape {tuple(got.shape)} vs {tuple(ref.shape)}")
        return
    err = (got - ref).abs().max().item()
    scale = ref.abs().max().item()
    rel = err / scale if scale else err
    ok = rel <= TOL
    if not ok:
        failures.append(name)
    print(f"{'ok  ' if ok else 'FAIL'} {name:48s} max|err| {err:.3e}  max|ref| {scale:.3e}  rel {rel:.2e}")


def check_unet(folder, golden, sdxl=False):
    cfg = st.load_json(os.path.join(MODELS, folder, "unet", "config.json"))
    unet = st.load_module(st.UNet(cfg), st.load_safetensors(os.path.join(MODELS, folder, "unet", "diffusion_pytorch_model.safetensors")))
    g = st.load_safetensors(os.path.join(GOLD, golden))
    extra = {}
    if sdxl:
        extra = {"text_embeds": g["text_embeds"], "time_ids": g["time_ids"]}
    for key in sorted(k for k in g if k.startswith("out_") and not k.endswith("__f64")):
        t = g["timestep_" + key[len("out_"):]]
        with torch.inference_mode():
            out = unet(g["sample"], t, g["encoder_hidden_states"], **extra)
        compare(f"{golden}:{key}", out, g[key])


def check_text(folder, golden, projection):
    d = os.path.join(MODELS, folder)
    cfg = st.load_json(os.path.join(d, "config.json"))
    m = st.load_module(st.CLIPText(cfg, projection=projection), st.load_safetensors(os.path.join(d, "model.safetensors")))
    g = st.load_safetensors(os.path.join(GOLD, golden))
    for row in ("prompt", "negative"):
        ids = g[f"{row}.input_ids"]
        with torch.inference_mode():
            out = m(ids)
            hs = out["hidden_states"]
            want = {
                "last_hidden_state": out["last_hidden_state"],
                "pooler_output": out["pooler_output"],
                "hidden_states_m2": hs[-2],
                "hidden_states_m2_final_layer_norm": m.text_model.final_layer_norm(hs[-2]),
                "text_embeds": out.get("text_embeds"),
            }
        for i, h in enumerate(hs):
            want[f"hidden_states_{i}"] = h
        for k, v in want.items():
            key = f"{row}.{k}"
            if key in g and v is not None:
                compare(f"{golden}:{key}", v, g[key])


def check_vae():
    d = os.path.join(MODELS, "sd15-tiny", "vae")
    cfg = st.load_json(os.path.join(d, "config.json"))
    sd = st.decoder_state(st.load_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors")))
    vae = st.load_module(st.VAEDecode(cfg), sd)
    g = st.load_safetensors(os.path.join(GOLD, "vae.safetensors"))
    with torch.inference_mode():
        out = vae(g["decode.latent"])
    compare("vae.safetensors:decode.image", out, g["decode.image"])


def main():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"torch {torch.__version__}, fixtures {FIX}")
    check_unet("sd15-tiny", "unet.safetensors")
    if os.path.isdir(os.path.join(MODELS, "sdxl-tiny", "unet")):
        check_unet("sdxl-tiny", "unet_sdxl.safetensors", sdxl=True)
    check_text("sd15-tiny/text_encoder", "text_encoder.safetensors", projection=False)
    if os.path.isdir(os.path.join(MODELS, "sdxl-tiny", "text_encoder_2")):
        check_text("sdxl-tiny/text_encoder_2", "text_encoder_2.safetensors", projection=True)
    check_vae()
    if failures:
        print(f"check_goldens: {len(failures)} outputs beyond {TOL:g} relative: {failures}")
        sys.exit(1)
    print(f"check_goldens: all outputs within {TOL:g} of the largest reference magnitude")


if __name__ == "__main__":
    main()
