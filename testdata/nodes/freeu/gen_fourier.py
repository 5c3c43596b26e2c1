# Expected outputs of FreeU's skip filter: diffusers' fourier_filter(x, threshold=1, scale) written out with
# torch.fft (fftn over H and W, fftshift, a 2x2 block of the mask set to scale around the centre, ifftshift,
# ifftn, real part), on seeded random float32 tensors of even, odd and degenerate sizes.
# Run with Debian's python3-torch (1.13): /usr/bin/python3 gen_fourier.py > fourier.json
import json
import torch
from torch.fft import fftn, fftshift, ifftn, ifftshift


def fourier_filter(x, threshold, scale):
    B, C, H, W = x.shape
    x_freq = fftshift(fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    mask = torch.ones((B, C, H, W))
    crow, ccol = H // 2, W // 2
    mask[..., crow - threshold : crow + threshold, ccol - threshold : ccol + threshold] = scale
    x_freq = ifftshift(x_freq * mask, dim=(-2, -1))
    return ifftn(x_freq, dim=(-2, -1)).real.to(x.dtype)


cases = []
for seed, shape, scale in [(0, (1, 2, 4, 4), 0.9), (1, (2, 3, 5, 7), 0.2), (2, (1, 1, 8, 6), 1.4),
                           (3, (1, 2, 1, 5), 0.6), (4, (1, 1, 3, 1), -0.5), (5, (1, 1, 2, 2), 0.0)]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float32)
    y = fourier_filter(x, 1, scale)
    cases.append({"shape": list(shape), "scale": scale, "x": x.flatten().tolist(), "y": y.flatten().tolist()})
print(json.dumps(cases))
