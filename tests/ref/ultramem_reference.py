#!/usr/bin/python3
"""ultramem_reference.py: an independent PyTorch UltraMem (V1), to cross-check
lib/memory/ultramem.c with every trick on.

Run by hand from the repo root (needs python3-torch, python3-numpy):

    /usr/bin/python3 tests/ref/ultramem_reference.py

It writes tests/fixtures/ultramem_small.bin (format in tests/fixtures/README.md),
which the `ultramem_fixture` suite in tests/test_ultramem.c loads. Written from
the maths, not from the C code: batched tensor ops over all tokens and heads,
torch.linalg.svd for the rank-1 selection vectors (no closed form), torch.topk,
torch.linalg.svdvals for the auxiliary loss, one-hot scatter for IVE pooling,
and autograd for every gradient of L = sum(out * dout) + aux_loss.
Maths in float64 from float32-representable inputs, stored as float32.
"""
import struct
import sys

import numpy as np
import torch

N, D, n, E, H, Dk, m, Dv, r, h = 5, 8, 3, 4, 2, 4, 3, 4, 2, 2
ALPHA, TAU = 0.5, 0.01
EPS = 1e-6  # RMSNorm epsilon, as lib/nn/layernorm.c
SIDE = int(round(E ** 0.5))
KN = SIDE * n          # keys per side
P = n * n              # physical rows
MAGIC, VERSION = b"UMUF", 1
OUT = "tests/fixtures/ultramem_small.bin"
NAMES = ["query.weight", "query_norm.weight", "keys", "key_norm.weight", "cores", "values", "value_proj.weight"]


def draw(seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0, mean=0.0):
        return (mean + torch.randn(*shape, generator=g, dtype=torch.float64) * std).float().double()

    p = {
        "inp": rnd(N, D),
        "query.weight": rnd(2 * Dk, D, std=Dk ** -0.5),           # one query shared by the H heads
        "query_norm.weight": rnd(Dk, mean=0.8, std=0.2),
        "keys": rnd(H, 2, r * KN, Dk, std=Dk ** -0.5),            # [head][row|col][rank*KN + key]
        "key_norm.weight": rnd(Dk, mean=0.8, std=0.2),
        "cores": (torch.rand(H, h, r, r, generator=g, dtype=torch.float64)).float().double(),
        "values": rnd(P, Dv, std=0.3),
        "value_proj.weight": rnd(D, E * Dv, std=(E * Dv) ** -0.5),
        "dout": rnd(N, D),
    }
    shuffle = torch.randperm(E * P, generator=g)
    for t in p.values():
        t.requires_grad_(True)
    return p, shuffle


def rms(x, w):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def leading_pair(C):
    # C (r, r) -> leading left / right singular vectors, the largest-|.|
    # component of u made positive (first on a tie).
    U, S, Vh = torch.linalg.svd(C.detach())
    u, t = U[:, 0].clone(), Vh[0, :].clone()
    big = int(torch.argmax(u.abs()))
    if u[big] < 0:
        u, t = -u, -t
    return u, t


def forward(p, shuffle):
    q = rms((p["inp"] @ p["query.weight"].T).view(N, 2, Dk), p["query_norm.weight"])  # (N, 2, Dk)
    K = rms(p["keys"], p["key_norm.weight"]).view(H, 2, r, KN, Dk)
    S_row = torch.einsum("tc,hrkc->thrk", q[:, 0], K[:, 0])                             # (N, H, r, KN)
    S_col = torch.einsum("tc,hrkc->thrk", q[:, 1], K[:, 1])
    Csum = p["cores"].sum(1)                                                           # (H, r, r)
    out_acc = torch.zeros(N, E, Dv, dtype=torch.float64)
    virt = torch.zeros(N, H, m, dtype=torch.int64)
    margins = []
    for hh in range(H):
        u, t = leading_pair(Csum[hh])
        a = torch.einsum("r,trk->tk", u, S_row[:, hh].detach())                         # (N, KN)
        b = torch.einsum("r,trk->tk", t, S_col[:, hh].detach())
        for sel in (a, b):
            top = torch.topk(sel, m + 1, dim=-1).values
            margins.append((top[:, m - 1] - top[:, m]).min().item())
        rows = torch.topk(a, m, dim=-1).indices                                        # (N, m)
        cols = torch.topk(b, m, dim=-1).indices
        R = torch.gather(S_row[:, hh], 2, rows[:, None, :].expand(N, r, m))            # (N, r, m)
        Q = torch.gather(S_col[:, hh], 2, cols[:, None, :].expand(N, r, m))
        per_core = torch.einsum("tra,hrs,tsb->thab", R, p["cores"][hh], Q)              # (N, h, m, m)
        grid = per_core.sum(1).reshape(N, m * m)
        top = torch.topk(grid.detach(), m + 1, dim=-1).values
        margins.append((top[:, m - 1] - top[:, m]).min().item())
        cell = torch.topk(grid.detach(), m, dim=-1).indices                            # (N, m)
        g_rows = torch.gather(rows, 1, cell // m)
        g_cols = torch.gather(cols, 1, cell % m)
        virt[:, hh] = g_rows * KN + g_cols
        scores = torch.gather(per_core.reshape(N, h, m * m), 2, cell[:, None, :].expand(N, h, m))  # (N, h, m)
        s = shuffle[virt[:, hh]]                                                       # (N, m)
        phys, block = s % P, s // P
        vals = p["values"][phys].view(N, m, h, Dv // h)                                # MCS slices
        weighted = (scores.permute(0, 2, 1)[..., None] * vals).reshape(N, m, Dv)       # raw scores
        onehot = torch.nn.functional.one_hot(block, E).double()                         # (N, m, E)
        out_acc = out_acc + torch.einsum("tme,tmv->tev", onehot, weighted)
    out = out_acc.reshape(N, E * Dv) @ p["value_proj.weight"].T
    sv = torch.linalg.svdvals(Csum)                                                     # (H, r), descending
    aux = ALPHA / (H * (r - 1)) * (torch.relu(sv[:, 1:] - TAU) ** 2).sum()
    s = shuffle[virt]
    return out, aux, virt, s % P, s // P, min(margins)


def main():
    for seed in range(200):
        p, shuffle = draw(seed)
        out, aux, virt, phys, block, margin = forward(p, shuffle)
        if margin > 1e-3:
            break
    else:
        sys.exit("no seed with well separated selections")
    loss = (out * p["dout"]).sum() + aux
    loss.backward()
    with open(OUT, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<I", VERSION))
        f.write(struct.pack("<10i", N, D, n, E, H, Dk, m, Dv, r, h))
        f.write(struct.pack("<2f", ALPHA, TAU))

        def put(t):
            f.write(t.detach().numpy().astype("<f4").tobytes())

        def put_int(t):
            f.write(t.numpy().astype("<i4").tobytes())

        put(p["inp"])
        for name in NAMES:
            put(p[name])
        put_int(shuffle)
        put(p["dout"])
        put(out)
        put(aux.reshape(1))
        put_int(virt)
        put_int(phys)
        put_int(block)
        put(p["inp"].grad)
        for name in NAMES:
            put(p[name].grad)
    print(f"wrote {OUT} (seed {seed}, min selection gap {margin:.4f}, aux {aux.item():.6f})")


if __name__ == "__main__":
    main()
