# Expected values for random_range (numpy.random.default_rng(seed).integers(low, high, size)) and for the
# seeded generators of InvokeAI's UI (MT19937 seeded by init_genrand, i.e. numpy's legacy RandomState(seed)).
# Run with Debian's python3-numpy (1.24): /usr/bin/python3 gen_random.py > random.json
import json
import numpy as np

ranges = []
for low, high, size, seed in [(0, 2147483647, 5, 0), (-10, 10, 8, 42), (0, 1 << 40, 4, 7),
                              (-(1 << 62), 1 << 62, 3, 123), (5, 6, 3, 9), (0, 1 << 32, 4, 4294967295)]:
    v = np.random.default_rng(seed).integers(low, high, size).tolist()
    ranges.append({"low": low, "high": high, "size": size, "seed": seed, "values": v})

mt = []
for seed in [0, 1, 123456, 4294967295]:
    r = np.random.RandomState(seed)
    mt.append({"seed": seed, "uint32": [int(x) for x in r.randint(0, 1 << 32, size=5, dtype=np.uint32)]})

print(json.dumps({"random_range": ranges, "mt19937": mt}, indent=1))
