"""Vectorised ensembles: every member's linear layer is one slice of a batched matmul."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class EnsembleLinear(nn.Module):
    """`num_members` independent linear layers applied as one batched matmul (`bmm`).

    weight [M, in, out], bias [M, 1, out]; forward x [M, B, in] -> [M, B, out].
    """

    def __init__(self, in_dim: int, out_dim: int, num_members: int):
        super().__init__()
        self.in_dim, self.out_dim, self.num_members = in_dim, out_dim, num_members
        self.weight = nn.Parameter(torch.empty(num_members, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same distribution as nn.Linear per member: kaiming_uniform(a=sqrt(5)) on a fan-in of
        # in_dim is U(-1/sqrt(in), 1/sqrt(in)), and so is the bias.
        bound = 1.0 / math.sqrt(self.in_dim) if self.in_dim > 0 else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        w, b = (
            (self.weight.detach(), self.bias.detach())
            if detach_params
            else (self.weight, self.bias)
        )
        # bmm then an in-place bias add: measured ~25% faster than baddbmm on CPU (baddbmm
        # first broadcasts the bias into the output, then runs the gemm with beta=1).
        return torch.bmm(x, w).add_(b)  # [M, B, in] @ [M, in, out] -> [M, B, out]

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, num_members={self.num_members}"


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last dim with a separate affine (gain, bias) per member."""

    def __init__(self, dim: int, num_members: int, eps: float = 1e-5):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(num_members, 1, dim))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, dim))

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        w, b = (
            (self.weight.detach(), self.bias.detach())
            if detach_params
            else (self.weight, self.bias)
        )
        x = F.layer_norm(x, (self.dim,), eps=self.eps)  # [M, B, H], no affine
        return torch.addcmul(b, x, w)


class CriticEnsemble(nn.Module):
    """`num_qs` Q-networks Q(s, a) evaluated together; output [num_qs, B] or [num_qs, N, B].

    With N actions per state (CQL) the N*B (state, action) rows go through every layer as one
    batch per member, so each layer is a single large batched matmul.
    """

    def __init__(
        self,
        in_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        num_qs: int = 2,
        layer_norm: bool = False,
    ):
        super().__init__()
        if not hidden_dims:
            raise ValueError("CriticEnsemble needs at least one hidden layer")
        self.in_dim, self.action_dim, self.num_qs = in_dim, action_dim, num_qs
        dims = [in_dim + action_dim, *hidden_dims]
        self.linears = nn.ModuleList(
            EnsembleLinear(d_in, d_out, num_qs) for d_in, d_out in zip(dims[:-1], dims[1:])
        )
        self.norms = nn.ModuleList(
            EnsembleLayerNorm(d, num_qs) if layer_norm else nn.Identity() for d in dims[1:]
        )
        self.head = EnsembleLinear(dims[-1], 1, num_qs)

    def forward(
        self, features: torch.Tensor, action: torch.Tensor, detach_params: bool = False
    ) -> torch.Tensor:
        """features [B, F], action [B, A] -> [M, B]; action [N, B, A] -> [M, N, B].

        detach_params=True: the weights act as constants (gradients reach only the inputs), as
        an actor loss through the critic needs.
        """
        many = action.dim() == 3
        b = features.shape[0]
        n = action.shape[0] if many else 1
        # Broadcast the state features over the N actions (a view), then one small copy by cat.
        x = torch.cat([features.expand(n, b, self.in_dim), action.view(n, b, -1)], dim=-1)
        # [M, N*B, F+A]: a real copy per member. bmm on a stride-0 (expanded) batch dimension
        # leaves BLAS for a slow loop: measured 7.8 ms vs 1.0 ms for CQL's [2, 7936, 29] input.
        x = x.view(1, n * b, -1).expand(self.num_qs, -1, -1).contiguous()
        d = detach_params
        for linear, norm in zip(self.linears, self.norms):
            # In-place ReLU: neither bmm's nor layer_norm's backward needs its output.
            h = linear(x, d)
            x = (h if isinstance(norm, nn.Identity) else norm(h, d)).relu_()  # [M, N*B, H]
        q = self.head(x, d).view(self.num_qs, n, b)  # [M, N, B]
        return q if many else q.squeeze(1)
