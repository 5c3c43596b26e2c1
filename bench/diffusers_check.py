"""Dev-time check of the `make bench` peer against diffusers' own UNet (not run by `make bench`).

Times one SD-1.5 UNet step (batch 2, 4×64×64 latents, 77×768 context, t = 500) in one
process, either with diffusers' UNet2DConditionModel or with bench/sdtorch.py's UNet, on
the same weights: every tensor is drawn from a generator seeded by the CRC32 of its
state-dict name, and both models use diffusers' names, so the two processes hold identical
weights and `--save` outputs can be compared bit for bit (`--compare A.pt B.pt`).

bf16 runs as a diffusers user would: `unet.to(torch.bfloat16)` and bf16 inputs.

diffusers is not a dependency of the project. To run the diffusers side, unpack its
source (e.g. `git archive v0.25.1 src` of github.com/huggingface/diffusers) and pass
`--diffusers-src DIR/src`; diffusers' import chain wants huggingface_hub and safetensors,
which the UNet itself never calls, so when they are missing this script installs empty
stand-in modules for them (an import hook; nothing is downloaded or loaded from disk).

Usage (2 threads, jemalloc, no OPENBLAS_CORETYPE, as bench/run.sh gives the peer):
  env -u OPENBLAS_CORETYPE LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \\
    /usr/bin/python3 bench/diffusers_check.py --impl diffusers --diffusers-src /tmp/diffusers-src/src \\
    --dtype bf16 --runs 3 --save /tmp/d.pt
  ... --impl sdtorch --dtype bf16 --save /tmp/s.pt
  /usr/bin/python3 bench/diffusers_check.py --compare /tmp/d.pt /tmp/s.pt
Prints one JSON line: median and min wall seconds, median process CPU seconds, all runs, load.
"""

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import statistics
import sys
import time
import types
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

SD15 = {
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "in_channels": 4,
    "out_channels": 4,
    "sample_size": 64,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}


class _Anything:
    """Stands in for any function, decorator or object of a stubbed package."""

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]  # used as a decorator
        return _Anything()

    def __getattr__(self, name):
        return _Anything()


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name.isupper():  # constants: paths and flags
            return "/nonexistent" if ("HOME" in name or "CACHE" in name) else False
        if name == "REGEX_COMMIT_HASH":
            import re

            return re.compile(r"^[0-9a-f]{40}$")
        if name[0].isupper():  # error classes used in except clauses
            return type(name, (Exception,), {})
        return _Anything()


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = roots

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        m.__version__ = "0.20.0"
        return m

    def exec_module(self, module):
        pass


def import_diffusers_unet(src):
    missing = []
    for name in ("huggingface_hub", "safetensors"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.meta_path.insert(0, _StubFinder(tuple(missing)))
    sys.path.insert(0, src)
    from diffusers.models.unet_2d_condition import UNet2DConditionModel
    import diffusers

    return UNet2DConditionModel, diffusers.__version__


def fill_weights(model):
    """Deterministic weights keyed by state-dict name (so both models get the same)."""
    with torch.no_grad():
        for name, p in model.state_dict().items():
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            if "norm" in name and p.dim() == 1:
                if name.endswith("weight"):
                    p.uniform_(0.95, 1.05, generator=g)
                else:
                    p.uniform_(-0.05, 0.05, generator=g)
            elif p.dim() == 1:
                p.uniform_(-0.02, 0.02, generator=g)
            else:
                p.normal_(0, p[0].numel() ** -0.5, generator=g)


def compare_ops(pa, pb):
    """Which (op, input shapes) pairs one step calls in A but not as often in B, and the
    self CPU time per op name on each side."""
    def load(p):
        with open(p) as f:
            return json.load(f)

    ra, rb = load(pa), load(pb)
    ca = {(r["op"], r["shapes"]): r["calls"] for r in ra}
    cb = {(r["op"], r["shapes"]): r["calls"] for r in rb}
    diff = sorted((k, ca.get(k, 0), cb.get(k, 0)) for k in set(ca) | set(cb) if ca.get(k, 0) != cb.get(k, 0))
    for (op, shapes), x, y in diff:
        print(f"calls differ: {op} {shapes}: {x} vs {y}")
    ta, tb = {}, {}
    for rows, t in ((ra, ta), (rb, tb)):
        for r in rows:
            t[r["op"]] = t.get(r["op"], 0) + r["self_cpu_us"]
    print(f"{'op':40s} {'A self CPU s':>12s} {'B self CPU s':>12s}")
    for op in sorted(set(ta) | set(tb), key=lambda o: -max(ta.get(o, 0), tb.get(o, 0)))[:25]:
        print(f"{op:40s} {ta.get(op, 0) / 1e6:12.3f} {tb.get(op, 0) / 1e6:12.3f}")
    print(f"{'total':40s} {sum(ta.values()) / 1e6:12.3f} {sum(tb.values()) / 1e6:12.3f}")
    print(f"{len(diff)} (op, shapes) pairs with different call counts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["diffusers", "sdtorch"])
    ap.add_argument("--diffusers-src", default="/tmp/diffusers-src/src")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", default="", help="write the step's output (as fp32) here")
    ap.add_argument("--profile", default="", help="write torch.autograd.profiler tables of one step here")
    ap.add_argument("--ops", default="", help="write every aten op of one step (name, input shapes, calls, self CPU µs) "
                    "here as JSON, for --compare-ops")
    ap.add_argument("--compare-ops", nargs=2, metavar=("A", "B"), help="compare two --ops files and exit")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two --save outputs and exit")
    a = ap.parse_args()
    if a.compare:
        x, y = (torch.load(p) for p in a.compare)
        print(json.dumps({"max_abs_diff": (x - y).abs().max().item(), "max_abs": x.abs().max().item(),
                          "identical": bool(torch.equal(x, y))}))
        return
    if a.compare_ops:
        compare_ops(*a.compare_ops)
        return
    if not a.impl:
        ap.error("--impl is required")
    torch.set_num_threads(a.threads)
    version = None
    if a.impl == "diffusers":
        cls, version = import_diffusers_unet(a.diffusers_src)
        unet = cls(**SD15).eval()
    else:
        sys.path.insert(0, HERE)
        import sdtorch

        unet = sdtorch.UNet(SD15).eval()
    fill_weights(unet)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 64, 64, generator=g)
    ctx = torch.randn(2, 77, 768, generator=g)
    t = torch.tensor(500)
    if a.dtype == "bf16":
        unet = unet.to(torch.bfloat16)
        x, ctx = x.to(torch.bfloat16), ctx.to(torch.bfloat16)

    def step():
        with torch.inference_mode():
            if a.impl == "diffusers":
                return unet(x, t, encoder_hidden_states=ctx).sample
            return unet(x, t, ctx)

    out = None
    for _ in range(a.warmup):
        out = step()
    if a.save:
        torch.save((out if out is not None else step()).float(), a.save)
    if a.profile:
        with torch.autograd.profiler.profile() as prof:
            step()
        with open(a.profile, "w") as f:
            f.write(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
            f.write("\n")
            f.write(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=60))
    if a.ops:
        with torch.autograd.profiler.profile(record_shapes=True) as prof:
            step()
        rows = [{"op": e.key, "shapes": str(e.input_shapes), "calls": e.count, "self_cpu_us": e.self_cpu_time_total}
                for e in prof.key_averages(group_by_input_shape=True)]
        with open(a.ops, "w") as f:
            json.dump(rows, f)
    load0 = os.getloadavg()[0]
    walls, cpus = [], []
    for _ in range(a.runs):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(json.dumps({
        "impl": a.impl, "diffusers": version, "torch": torch.__version__, "dtype": a.dtype,
        "threads": torch.get_num_threads(), "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
        "walls": [round(w, 2) for w in walls], "cpus": [round(c, 2) for c in cpus],
        "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "LD_PRELOAD": os.environ.get("LD_PRELOAD"), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }), flush=True)


if __name__ == "__main__":
    main()
