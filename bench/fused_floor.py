"""The floor under a step of K fused mlps: its matrix products and its optimiser pass,
each timed alone through the libtorch Cohort links, at the shapes a fused array and
the vmap peer (shared/peers/ensemble_vmap.py) both run: every copy on one shared
batch, the first layer one product over the K copies' weights side by side, the
others batched products. A training step cannot be shorter than the sum, whoever
schedules it; bench/cost_growth.sh compares it with both sides' measured steps.

  python3 bench/fused_floor.py --k 16 --widths 256,256 --threads 2

Prints one JSON object per piece and a summary: floor_ms (products + the faster of
the two optimiser passes below), products_ms, optimiser_ms (that pass),
optimiser_fused_kernel_ms and optimiser_in_place_ms (each), and
samples_per_sec_at_floor (k x batch / floor).
"""
import argparse
import json
import statistics
import time

import torch


def timed_ms(run, min_seconds, rounds):
    """Median over `rounds` of the mean time of `run`, each round at least min_seconds."""
    for _ in range(3):
        run()
    medians = []
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds or calls < 3:
            run()
            calls += 1
        medians.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(medians)


def pieces(k, batch, sizes):
    """(name, callable, flops) for each product of one fused step, forward and backward."""
    torch.manual_seed(0)
    x = torch.randn(batch, sizes[0])
    out = []
    first_in, first_out = sizes[0], sizes[1]
    w1 = torch.randn(k * first_out, first_in)
    dy1 = torch.randn(batch, k * first_out)
    f1 = 2 * batch * k * first_in * first_out
    b1 = torch.zeros(k * first_out)
    out.append(("layer 1 forward (one product)", lambda: torch.addmm(b1, x, w1.t()), f1))
    out.append(("layer 1 weight gradient", lambda: dy1.t().mm(x), f1))
    for n_in, n_out in zip(sizes[1:-1], sizes[2:]):
        h = torch.randn(k, batch, n_in)
        w = torch.randn(k, n_out, n_in)
        dy = torch.randn(k, batch, n_out)
        b = torch.zeros(k, 1, n_out)
        f = 2 * batch * k * n_in * n_out
        out.append((f"{n_in}x{n_out} forward",
                    lambda h=h, w=w, b=b: torch.baddbmm(b, h, w.transpose(1, 2)), f))
        out.append((f"{n_in}x{n_out} input gradient", lambda dy=dy, w=w: torch.bmm(dy, w), f))
        out.append((f"{n_in}x{n_out} weight gradient", lambda dy=dy, h=h: torch.bmm(dy.transpose(1, 2), h), f))
    return out


def optimiser_pieces(k, sizes):
    """One SGD-with-momentum pass over every parameter of the K copies, two ways:
    libtorch's fused kernel (one pass: the least any SGD can cost) and the three
    in-place ops per parameter that cohort::FusedSGD runs (mul_, add_, addcmul_ with
    a per-copy learning rate), which it chose for rounding (docs/benchmarks/fused.md)."""
    shapes = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        shapes += [(n_out, n_in), (n_out,)]
    params = [torch.randn(k, *s) for s in shapes]
    grads = [torch.randn_like(p) for p in params]
    bufs = [torch.randn_like(p) for p in params]
    lrs = [torch.full((k,) + (1,) * len(s), 0.05) for s in shapes]

    def fused_kernel():
        for c in range(k):
            torch._fused_sgd_([p[c] for p in params], [g[c] for g in grads], [b[c] for b in bufs],
                              weight_decay=0.0, momentum=0.9, lr=0.05, dampening=0.0,
                              nesterov=False, maximize=False, is_first_step=False)

    def in_place():
        for p, g, b, lr in zip(params, grads, bufs, lrs):
            b.mul_(0.9).add_(g)
            p.addcmul_(b, lr, value=-1)
    return fused_kernel, in_place


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--inputs", type=int, default=784)
    p.add_argument("--widths", default="256,256")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=0.3)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    sizes = [a.inputs] + [int(w) for w in a.widths.split(",")] + [a.classes]
    products_ms = 0.0
    for name, run, flops in pieces(a.k, a.batch, sizes):
        ms = timed_ms(run, a.min_seconds, a.rounds)
        products_ms += ms
        print(json.dumps({"bench": "fused_floor", "piece": name, "k": a.k, "ms": ms,
                          "gflops": flops / ms / 1e6}))
    fused_kernel, in_place = optimiser_pieces(a.k, sizes)
    kernel_ms = timed_ms(fused_kernel, a.min_seconds, a.rounds)
    in_place_ms = timed_ms(in_place, a.min_seconds, a.rounds)
    print(json.dumps({"bench": "fused_floor", "piece": "optimiser (fused SGD, every copy)",
                      "k": a.k, "ms": kernel_ms}))
    print(json.dumps({"bench": "fused_floor", "piece": "optimiser (in place, as FusedSGD)",
                      "k": a.k, "ms": in_place_ms}))
    fastest_ms = min(kernel_ms, in_place_ms)
    floor_ms = products_ms + fastest_ms
    print(json.dumps({"bench": "fused_floor", "summary": True, "k": a.k, "batch": a.batch,
                      "sizes": sizes, "threads": torch.get_num_threads(),
                      "products_ms": products_ms, "optimiser_ms": fastest_ms,
                      "optimiser_fused_kernel_ms": kernel_ms,
                      "optimiser_in_place_ms": in_place_ms, "floor_ms": floor_ms,
                      "samples_per_sec_at_floor": a.k * a.batch / floor_ms * 1e3,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
