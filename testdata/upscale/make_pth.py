#!/usr/bin/python3
"""Writes rrdb-x4-params_ema.pth: the sd-ext ESRGAN x4 fixture (new layout) as basicsr saves its
checkpoints — torch.save (zip format) of {"params_ema": state_dict} with float16 tensors, as the
published Real-ESRGAN .pth files are nested. Run from the repository root with Debian's /usr/bin/python3
(torch 1.13.1)."""
import json
import struct
from collections import OrderedDict

import numpy as np
import torch

src = "testdata/sd-ext/esrgan/models/rrdb-x4-new.safetensors"
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
header = json.loads(b[8 : 8 + n])
data = b[8 + n :]
sd = OrderedDict()
for k in sorted(header):
    if k == "__metadata__":
        continue
    v = header[k]
    s, e = v["data_offsets"]
    arr = np.frombuffer(data[s:e], dtype=np.float32).reshape(v["shape"])
    sd[k] = torch.from_numpy(arr.copy()).half()  # the fixture's weights lie on the float16 grid: exact
torch.save({"params_ema": sd}, "testdata/upscale/rrdb-x4-params_ema.pth")
