#!/usr/bin/env python3
"""The PyTorch models equivalent to Cohort's zoo, and Cohort checkpoints in and out of them.

Each builder returns the nn.Module whose state_dict names and shapes are those of the
Cohort model with the same settings (`mlp`: widths; `cnn`, `resnet`: channels), so:

  * a state_dict saved here, torch.save(model.state_dict(), "w.pt"), starts a Cohort
    network with `network.N.init = "w.pt"` (names and shapes checked);
  * a Cohort checkpoint loads here with load_checkpoint(), and evaluate() gives the test
    accuracy and loss that Cohort reported for it.

  python cohort_models.py CHECKPOINT_OR_RUN_DIR   # prints {network: {test_accuracy, test_loss}}

Needs only torch (the Python whose libtorch Cohort links gives the same numbers).
"""
import gzip, json, os, struct, sys, tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

# Cohort's normalisation (src/data/dataset.cpp): the training set's mean and deviation.
MEAN, STD = 0.2860, 0.3530
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def mlp(widths=(256, 256), inputs=784, classes=10):
    layers, width = [nn.Flatten()], inputs
    for w in widths:
        layers += [nn.Linear(width, w), nn.ReLU()]
        width = w
    return nn.Sequential(*layers, nn.Linear(width, classes))


def cnn(channels=32, classes=10, in_channels=1, size=28):
    c, side = channels, size // 4
    return nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * c * side * side, 128), nn.ReLU(),
                         nn.Linear(128, classes))


class ResidualBlock(nn.Module):
    """src/models/residual_block.cpp: two 3x3 convolutions with batch norm, a 1x1
    projection on the skip path when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.shortcut(x) if len(self.shortcut) else x))


def resnet(channels=32, classes=10, in_channels=1):
    c = channels
    return nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                         nn.ReLU(), ResidualBlock(c, c, 1), ResidualBlock(c, 2 * c, 2),
                         ResidualBlock(2 * c, 4 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4 * c, classes))


def build(network):
    """The model for one [[network]] table of a Cohort config (a dict)."""
    model = network.get("model", "cnn")
    if model == "mlp":
        return mlp(network.get("widths") or (256, 256))
    if model == "cnn":
        return cnn(network.get("channels", 32))
    if model == "resnet":
        return resnet(network.get("channels", 32))
    raise ValueError(f"unknown Cohort model {model!r}")


def checkpoint_folder(path):
    """A checkpoint folder, or a run folder's newest checkpoint."""
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    steps = sorted(d for d in os.listdir(os.path.join(path, "checkpoints")) if d.startswith("step-"))
    if not steps:
        raise FileNotFoundError(f"{path} holds no checkpoint")
    return os.path.join(path, "checkpoints", steps[-1])


def load_checkpoint(path):
    """{network name: model} with the weights of a Cohort checkpoint, in eval mode."""
    folder = checkpoint_folder(path)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    config = tomllib.loads(manifest["config"])
    state = torch.load(os.path.join(folder, "state.pt"))  # weights_only: tensors only
    models = {}
    for network in config["network"]:
        tensors = state[network["name"]]
        model = build(network)
        # "param.X" and "buffer.X" are the state_dict; "optim.*" is the optimiser's.
        model.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items()
                               if k.startswith(("param.", "buffer."))})
        models[network["name"]] = model.eval()
    return models


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def fashion_mnist(split="test", folder=FASHION_MNIST):
    """Images of the "train" or "test" split normalised as Cohort normalises them, and labels."""
    prefix = "train" if split == "train" else "t10k"
    find = lambda stem: next(p for p in (os.path.join(folder, stem + ".gz"), os.path.join(folder, stem))
                             if os.path.exists(p))
    x = read_idx(find(f"{prefix}-images-idx3-ubyte")).float().div_(255.0).sub_(MEAN).div_(STD)
    return x.unsqueeze(1), read_idx(find(f"{prefix}-labels-idx1-ubyte")).long()


@torch.no_grad()
def evaluate(model, x, y, chunk=1000):
    """Accuracy and mean cross-entropy, as `cohort train` and `cohort eval` compute them."""
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), chunk):
        out = model(x[i:i + chunk])
        loss += F.cross_entropy(out, y[i:i + chunk], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + chunk]).sum().item()
    return correct / len(x), loss / len(x)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    x, y = fashion_mnist("test")
    result = {}
    for name, model in load_checkpoint(sys.argv[1]).items():
        accuracy, loss = evaluate(model, x, y)
        result[name] = {"test_accuracy": accuracy, "test_loss": loss}
    print(json.dumps(result))
