#!/usr/bin/python3
"""Train a small CNN on Fashion-MNIST: a training program for neurosweep's `command` family.

neurosweep starts this program once per trial, in the trial's own directory, and reads what it
prints. The contract (docs/guide/models.md, "Bring your own model") is all there is to it:

  in   config.json in the working directory (or $NEUROSWEEP_CONFIG): the trial's parameters,
       seed, the spec's data block, device, and resource_limit (stop after that many epochs:
       early stopping with a "scheduler" pauses a trial at a rung this way);
       OMP_NUM_THREADS: the CPU threads this trial may use.
  out  one JSON line per epoch on stdout, {"step": epoch, "metrics": {...}}, and one
       {"final": {...}} at the end; anything else (the human-readable lines on stderr) goes to
       the trial's log.txt.
  stop on SIGTERM (a drain of the sweep, its time limit) save a checkpoint in the working
       directory and exit with code 75; the rerun of the sweep starts this program again in the
       same directory, and it continues from the checkpoint.

It is plain PyTorch: copy it and replace the model, the data and the metrics with your own.
Run by hand in any directory that holds a config.json:

    /usr/bin/python3 train.py
"""
import gzip
import json
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHECKPOINT = "checkpoint.pt"  # in the working directory, i.e. the trial directory


def log(message):
    """A human-readable line: stderr is copied to the trial's log.txt."""
    print(message, file=sys.stderr, flush=True)


def report(line):
    """A JSON line for neurosweep. flush: it reads the lines as they come, during training."""
    print(json.dumps(line), flush=True)


# ---------------------------------------------------------------------------------------------
# Data: Fashion-MNIST in its original IDX format (Debian: /usr/share/datasets/fashion-mnist/)


def read_idx(path, limit=None):
    """An IDX file (gzip'ed) as a numpy array, its first `limit` items only if given.

    The format: magic (0, 0, 8 = unsigned bytes, ndim), ndim big-endian sizes, the data. Only
    the bytes needed are decompressed, so a small `limit` is fast.
    """
    with gzip.open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[:3] != b"\0\0\x08":
            raise ValueError(f"{path}: not an IDX file of unsigned bytes")
        shape = [int.from_bytes(f.read(4), "big") for _ in range(magic[3])]
        if limit:
            shape[0] = min(shape[0], int(limit))
        raw = f.read(int(np.prod(shape)))
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def load_data(data, seed):
    """(train, validation, test) as (images, labels) tensors.

    The spec's data block: {"dir": ..., "limit": N, "test_limit": M, "val_fraction": f}. The
    first `limit` training images are split at random (fixed by the trial's seed) into training
    and validation; the test images are the first `test_limit` of t10k.
    """
    d = data.get("dir", "/usr/share/datasets/fashion-mnist")

    def load(prefix, limit):
        x = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), limit)
        y = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"), limit)
        x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)  # N x 1 x 28 x 28
        x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and standard deviation
        return x, torch.from_numpy(y.astype(np.int64))

    x, y = load("train", data.get("limit"))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(len(y) * data.get("val_fraction", 0.1)))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val]), load("t10k", data.get("test_limit"))


# ---------------------------------------------------------------------------------------------
# Model: two conv blocks and a linear readout


class SmallCNN(nn.Module):
    def __init__(self, channels, dropout):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * channels * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 14 -> 7
        return self.fc(self.dropout(x.flatten(1)))


@torch.no_grad()
def evaluate(model, images, labels, device, batch_size=1000):
    """Mean cross-entropy and accuracy."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(labels), batch_size):
        x, y = images[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    model.train()
    return loss / len(labels), correct / len(labels)


# ---------------------------------------------------------------------------------------------
# Checkpoints: everything the rest of the run depends on, so that a resumed trial ends with the
# same numbers as one never interrupted (on a CPU, with the same number of threads)


def save_checkpoint(state):
    tmp = CHECKPOINT + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, CHECKPOINT)  # atomic: a kill while saving leaves the previous checkpoint


def main():
    cfg = json.load(open(os.environ.get("NEUROSWEEP_CONFIG", "config.json")))
    p = cfg["params"]
    interrupted_exit = cfg.get("interrupted_exit", 75)  # the spec's "interrupted_exit"
    epochs = int(p["epochs"])
    # With a scheduler, train only up to the rung neurosweep asks for (null: no limit).
    limit = cfg.get("resource_limit")
    stop_at = min(epochs, int(limit)) if limit else epochs

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", cfg.get("threads", 1))))
    device = torch.device(cfg["device"] if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg["seed"])

    # SIGTERM: finish the current batch, then save and exit (see the training loop).
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_data(cfg["data"], cfg["seed"])
    model = SmallCNN(int(p["channels"]), float(p["dropout"])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(p["lr"]))
    batch_size = int(p["batch_size"])
    batches = (len(y_train) + batch_size - 1) // batch_size
    shuffle = torch.Generator().manual_seed(cfg["seed"])  # the order of the training images

    # Where we are: `epoch` epochs done, and `batch` batches of the next one.
    pos = {"epoch": 0, "batch": 0, "loss_sum": 0.0, "shuffle": shuffle.get_state()}
    resumed_from = 0.0
    if os.path.exists(CHECKPOINT):
        ck = torch.load(CHECKPOINT, map_location=device)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])  # dropout's random numbers go on where they were
        pos = ck["pos"]
        resumed_from = round(pos["epoch"] + pos["batch"] / batches, 3)
        log(f"resumed from {CHECKPOINT} at epoch {resumed_from:.3f}")

    def checkpoint():
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "torch_rng": torch.get_rng_state(), "pos": pos})

    while pos["epoch"] < stop_at:
        t0 = time.time()
        # The epoch's order from the generator's state at its start: a resume mid-epoch sees the
        # same order and skips the batches it already trained on.
        shuffle.set_state(pos["shuffle"])
        order = torch.randperm(len(y_train), generator=shuffle)
        for b in range(pos["batch"], batches):
            if stop:
                checkpoint()
                log(f"SIGTERM: checkpoint saved at epoch {pos['epoch']}, batch {b}/{batches}; "
                    f"exiting with {interrupted_exit}")
                sys.exit(interrupted_exit)
            idx = order[b * batch_size:(b + 1) * batch_size]
            loss = F.cross_entropy(model(x_train[idx].to(device)), y_train[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pos["loss_sum"] += loss.item()
            pos["batch"] = b + 1
        val_loss, val_accuracy = evaluate(model, x_val, y_val, device)
        metrics = {"train_loss": pos["loss_sum"] / batches, "val_loss": val_loss,
                   "val_accuracy": val_accuracy}
        pos = {"epoch": pos["epoch"] + 1, "batch": 0, "loss_sum": 0.0,
               "shuffle": shuffle.get_state()}
        # Every epoch, so that even a SIGKILL loses at most one; and before the report, after
        # which a scheduler may stop or pause the trial at once.
        checkpoint()
        report({"step": pos["epoch"], "metrics": metrics})
        log(f"epoch {pos['epoch']}/{epochs}: " +
            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()) + f" ({time.time() - t0:.1f} s)")

    # Paused at a rung (not the last): exit 0 without a final line; a promotion runs this
    # program again with a larger resource_limit, and it continues from the checkpoint.
    if pos["epoch"] < epochs and not cfg.get("final_rung", False):
        log(f"stopped at the rung of {stop_at} epochs")
        return
    val_loss, val_accuracy = evaluate(model, x_val, y_val, device)
    test_loss, test_accuracy = evaluate(model, x_test, y_test, device)
    torch.save(model.state_dict(), "model.pt")
    report({"final": {"val_loss": val_loss, "val_accuracy": val_accuracy,
                      "test_loss": test_loss, "test_accuracy": test_accuracy,
                      "resumed_from_epoch": resumed_from}})


if __name__ == "__main__":
    main()
