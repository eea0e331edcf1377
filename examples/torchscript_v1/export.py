"""Scripts the mask CNN of mask_cnn.py and saves it for the torchscript family.

    /usr/bin/python3 examples/torchscript_v1/export.py OUT.pt [--size 32] [--neurons 30]
        [--channels 8] [--traced]

--traced saves torch.jit.trace instead of torch.jit.script (for the test that neurosweep
refuses it: a trace freezes BatchNorm in the mode it was traced in).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mask_cnn import MaskCNN  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--size", type=int, default=32)
p.add_argument("--neurons", type=int, default=30)
p.add_argument("--channels", type=int, default=8)
p.add_argument("--traced", action="store_true")
a = p.parse_args()
torch.manual_seed(0)
model = MaskCNN(a.size, a.neurons, channels=a.channels)
if a.traced:
    module = torch.jit.trace(model, torch.zeros(2, 1, a.size, a.size))
else:
    module = torch.jit.script(model)
module.save(a.out)
print(f"saved {'traced' if a.traced else 'scripted'} mask CNN ({a.size}x{a.size}, {a.neurons} neurons, "
      f"{a.channels} channels) to {a.out}")
