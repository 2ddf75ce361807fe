"""Writes each built-in data source the way a user writes it, into the folder argv[1]:
{train,test}.pt by torch.save, {train,test}.csv (16 feature columns and `label`),
images/{train,test}/<class>/*.png|jpg by Pillow. Three classes a small network
separates well but not by a constant: Gaussian blobs in 16 features, and 12 x 12
images whose bright band is the class. Then regression data: reg_{train,test}.pt
and .csv."""
import csv
import os
import sys

import torch
from PIL import Image

work = sys.argv[1]
g = torch.Generator().manual_seed(0)
centres = torch.randn(3, 16, generator=g) * 2


def blobs(n):
    y = torch.randint(0, 3, (n,), generator=g)
    return centres[y] + torch.randn(n, 16, generator=g), y


for split, n in (("train", 900), ("test", 300)):
    x, y = blobs(n)
    torch.save({"inputs": x, "targets": y}, f"{work}/{split}.pt")
    with open(f"{work}/{split}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(16)] + ["label"])
        for row, label in zip(x.tolist(), y.tolist()):
            w.writerow([f"{v:.5f}" for v in row] + [label])
    for c, name in enumerate(("top", "middle", "bottom")):
        os.makedirs(f"{work}/images/{split}/{name}")
        for i in range(n // 10):
            img = (torch.rand(12, 12, generator=g) * 60).to(torch.uint8)
            img[c * 4:c * 4 + 4, :] += 150
            ext = "png" if i % 2 else "jpg"  # both decoders, in one folder
            Image.fromarray(img.numpy(), "L").save(f"{work}/images/{split}/{name}/{i}.{ext}")

# Regression: two real targets of the same 16 features, smooth but not linear,
# with a little noise; reg_{train,test}.pt hold both (N x 2), the CSVs the first
# as column `y`.
for split, n in (("train", 900), ("test", 300)):
    x = torch.randn(n, 16, generator=g)
    y = torch.stack([torch.sin(x[:, :4]).sum(1), 0.5 * x[:, 0] * x[:, 1]], 1)
    y += 0.05 * torch.randn(n, 2, generator=g)
    torch.save({"inputs": x, "targets": y}, f"{work}/reg_{split}.pt")
    with open(f"{work}/reg_{split}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(16)] + ["y"])
        for row, target in zip(x.tolist(), y[:, 0].tolist()):
            w.writerow([f"{v:.5f}" for v in row] + [f"{target:.5f}"])
