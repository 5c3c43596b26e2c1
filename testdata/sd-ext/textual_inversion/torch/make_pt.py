# Writes the PyTorch-format embeddings of this folder from models/tiny-ti.safetensors, with Debian's
# python3-torch (1.13): run `/usr/bin/python3 torch/make_pt.py` from testdata/sd-ext/textual_inversion.
import json
import struct

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        assert h["dtype"] == "F32"
        b, e = h["data_offsets"]
        vals = struct.unpack("<%df" % ((e - b) // 4), data[b:e])
        out[name] = torch.tensor(vals, dtype=torch.float32).reshape(h["shape"])
    return out


vec = read_safetensors("models/tiny-ti.safetensors")["emb_params"]  # [2, 32]

# A1111's layout: the vectors are a Parameter under string_to_param["*"], beside bookkeeping entries.
torch.save(
    {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": torch.nn.Parameter(vec.clone(), requires_grad=True)},
        "name": "tiny-ti",
        "step": 500,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
    },
    "torch/tiny-ti-a1111.pt",
)

# diffusers' learned_embeds.bin: {token: tensor}.
torch.save({"<tiny-ti>": vec.clone()}, "torch/learned_embeds.bin")

# The same vectors as a transposed view (strides [1, 2]) of a [32, 2] storage, under emb_params.
torch.save({"emb_params": vec.t().contiguous().t()}, "torch/tiny-ti-strided.pt")
