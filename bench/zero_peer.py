"""The Python side of bench/zero_memory.sh: the same wide mlp, AdamW and batches
as bench/zero_memory.cpp, trained by PyTorch's DistributedDataParallel or by
FSDP2 (torch.distributed.fsdp.fully_shard, one unit per Linear and the root),
over Gloo on CPU. Spawns --world-size ranks; rank 0 prints one JSON line with
the same fields as Cohort's (memory the ranks hold between steps, counted from
the tensors; the largest peak resident set)."""
import argparse
import gzip
import json
import os
import resource
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


def read_idx(folder, stem):
    """An IDX file of the Debian package, gzipped or plain."""
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise SystemExit(f"zero_peer: no {stem}[.gz] in {folder}")


def load_train(folder):
    x = torch.from_numpy(read_idx(folder, "train-images-idx3-ubyte").copy()).float().div_(255)
    y = torch.from_numpy(read_idx(folder, "train-labels-idx1-ubyte").copy()).long()
    return x.unsqueeze(1), y


def mlp(widths):
    layers, width = [nn.Flatten()], 784
    for w in widths:
        layers += [nn.Linear(width, w), nn.ReLU()]
        width = w
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def local_bytes(tensors):
    total = 0
    for t in tensors:
        if t is None:
            continue
        t = t.to_local() if hasattr(t, "to_local") else t
        total += t.numel() * t.element_size()
    return total


def rank_main(rank, args, port, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=args.world_size)
    world = args.world_size
    x, y = load_train(args.data)
    torch.manual_seed(0)
    net = mlp(args.widths)
    if args.mode == "ddp":
        model = nn.parallel.DistributedDataParallel(net)
    else:
        from torch.distributed.fsdp import fully_shard
        for layer in net:
            if isinstance(layer, nn.Linear):
                fully_shard(layer)
        model = fully_shard(net)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=generator)
    per_epoch = x.shape[0] // (args.batch_size * world)
    t0 = time.perf_counter()
    for step in range(args.steps):
        if step == args.warmup:
            dist.barrier()
            t0 = time.perf_counter()
        start = ((step % per_epoch) * world + rank) * args.batch_size
        index = perm[start:start + args.batch_size]
        optimizer.zero_grad(set_to_none=False)
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
    dist.barrier()
    seconds = time.perf_counter() - t0
    params = list(model.parameters())
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0]
    held = torch.tensor([local_bytes(params), local_bytes(p.grad for p in params), local_bytes(state),
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024], dtype=torch.long)
    dist.all_reduce(held, op=dist.ReduceOp.MAX)
    if rank == 0:
        mb = 1024.0 * 1024.0
        queue.put({"bench": "zero_memory", "impl": "pytorch-" + args.mode, "mode": args.mode,
                   "world_size": world, "widths": args.widths,
                   "torch": torch.__version__,
                   "parameters_mb": held[0].item() / mb, "gradients_mb": held[1].item() / mb,
                   "optimizer_mb": held[2].item() / mb,
                   "state_mb": held[:3].sum().item() / mb, "peak_rss_mb": held[3].item() / mb,
                   "samples_per_sec": (args.steps - args.warmup) * args.batch_size * world / seconds})
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["ddp", "fsdp2"], default="fsdp2")
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs="+", default=[4096, 4096])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--port", type=int, default=29533)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(rank_main, args=(args, args.port, queue), nprocs=args.world_size, join=True)
    print(json.dumps(queue.get()), flush=True)


if __name__ == "__main__":
    main()
