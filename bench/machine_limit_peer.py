"""The Python side of bench/machine_limit: the same matrix products and convolutions,
timed the same way (a second of warm-up, two untimed calls, then repeated until
--min-seconds pass), through the same libtorch from Python. One JSON object per shape on stdout."""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def flops(shape):
    macs = 1
    for d in shape["dims"]:
        macs *= d
    if shape["kind"] == "conv":
        macs *= shape["dims"][5]
    return 2 * macs


def gflops(shape, min_seconds):
    torch.manual_seed(0)
    d = shape["dims"]
    if shape["kind"] == "matmul":
        a, b = torch.randn(d[0], d[1]), torch.randn(d[1], d[2])
        run = lambda: torch.mm(a, b)
    else:
        a, b = torch.randn(d[0], d[1], d[3], d[4]), torch.randn(d[2], d[1], d[5], d[5])
        run = lambda: F.conv2d(a, b, padding=d[5] // 2)
    for _ in range(2):
        run()
    calls, t0 = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return flops(shape) * calls / elapsed / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", required=True, help="JSON list of {name, kind, dims}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=0.5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with torch.no_grad():
        # A second of large products first: the first ones in a process run slower
        # (thread pool start, clock ramp), and the C++ side warms up the same way.
        gflops({"kind": "matmul", "dims": [1024, 1024, 1024]}, 1.0)
        for shape in json.loads(args.cases):
            print(json.dumps({"name": shape["name"], "gflops": gflops(shape, args.min_seconds)}),
                  flush=True)


if __name__ == "__main__":
    main()
