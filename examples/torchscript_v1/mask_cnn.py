"""The mask CNN of the maskcnn family, written as a PyTorch module, to show (and test) the
torchscript family: a user's own model trained by neurosweep's protocol.

Architecture as in models/neural/README.md ("The published model"): an input BatchNorm without
scale and shift, `layers` convolutions (the first k1 x k1 without padding, the others k x k
'same'), each followed by BatchNorm (eps 1e-3, momentum 0.1) and softplus, average pooling
(ceil mode), and a factorized readout: out[b, n] = softplus(sum_c feature[n, c] *
sum_s spatial[n, s] x[b, c, s] + bias[n]). Weights N(0, 0.01^2), biases 0.

Export it with export.py (torch.jit.script, so BatchNorm's train/eval branches survive).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MaskCNN(nn.Module):
    def __init__(self, size: int, neurons: int, channels: int = 8, layers: int = 2,
                 k1: int = 9, k: int = 3, pool: int = 3, init_std: float = 0.01):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=1e-3, momentum=0.1, affine=False)
        convs, bns = [], []
        for l in range(layers):
            convs.append(nn.Conv2d(1 if l == 0 else channels, channels, k1 if l == 0 else k,
                                   padding=0 if l == 0 else k // 2, bias=False))
            bns.append(nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1))
        self.convs = nn.ModuleList(convs)
        self.bns = nn.ModuleList(bns)
        self.pool = pool
        side = math.ceil((size - k1 + 1) / pool)
        self.readout_spatial = nn.Parameter(torch.empty(neurons, side * side))
        self.readout_feature = nn.Parameter(torch.empty(neurons, channels))
        self.readout_bias = nn.Parameter(torch.zeros(neurons))
        for c in self.convs:
            nn.init.normal_(c.weight, 0.0, init_std)
        nn.init.normal_(self.readout_spatial, 0.0, init_std)
        nn.init.normal_(self.readout_feature, 0.0, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_bn(x)
        for conv, bn in zip(self.convs, self.bns):
            x = F.softplus(bn(conv(x)))
        x = F.avg_pool2d(x, self.pool, self.pool, 0, ceil_mode=True)
        b, c = x.shape[0], x.shape[1]
        spatial = torch.matmul(x.reshape(b, c, -1), self.readout_spatial.t())  # [B, C, N]
        out = (spatial * self.readout_feature.t().unsqueeze(0)).sum(1) + self.readout_bias
        return F.softplus(out)
