"""A small image classifier for the torchscript family's "classification" task, and its export.

    /usr/bin/python3 examples/torchscript_fashion/classifier.py OUT.pt [--filters 16]
        [--classes 10] [--dropout 0.25]

The module maps images [B, 1, 28, 28] (Fashion-MNIST, normalized by neurosweep) to logits
[B, classes]. It is scripted with torch.jit.script, not traced: a trace would freeze BatchNorm
and dropout in the mode they were in when it was traced. neurosweep trains it with the convnet
family's loop (cross-entropy, Adam or SGD, patience on the validation loss) and saves the best
epoch's model as TorchScript in each trial's model.pt.
"""
import argparse

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks (conv 3x3, BatchNorm, ReLU, 2x2 max pool), dropout, a linear head."""

    def __init__(self, filters: int = 16, classes: int = 10, dropout: float = 0.25):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, filters, 3, padding=1, bias=False),
            nn.BatchNorm2d(filters),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(filters, 2 * filters, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * filters),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * filters * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x).flatten(1)))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--filters", type=int, default=16)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--dropout", type=float, default=0.25)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.jit.script(SmallCNN(a.filters, a.classes, a.dropout)).save(a.out)
    print(f"saved a scripted SmallCNN ({a.filters} filters, {a.classes} classes) to {a.out}")
