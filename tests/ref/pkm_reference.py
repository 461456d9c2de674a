#!/usr/bin/python3
"""pkm_reference.py: an independent PyTorch PKM, to cross-check lib/memory/pkm.c.

Run by hand from the repo root (needs python3-torch, python3-numpy):

    /usr/bin/python3 tests/ref/pkm_reference.py

It writes tests/fixtures/pkm_small.bin (format in tests/fixtures/README.md),
which tests/test_pkm_fixture.c loads. The reference is deliberately written
differently from the C code: it scores ALL n*n slots by broadcasting the two
halves' scores and calls torch.topk on the full grid (no product-key search),
and autograd computes every gradient. Maths in float64, stored as float32.
"""
import struct
import sys

import numpy as np
import torch

N, D, n, H, Dk, k = 5, 8, 6, 2, 4, 3
QUERY_NORM = 1  # 1 = per-head LayerNorm (UM_QUERY_NORM_LAYERNORM)
QUERY_BIAS = 1
LN_EPS = 1e-5
MAGIC, VERSION = b"PKMF", 1
OUT = "tests/fixtures/pkm_small.bin"


def draw(seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0):
        # Round to float32 first: the C test starts from these exact values.
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).float().double()

    p = {
        "inp": rnd(N, D),
        "query.weight": rnd(H * Dk, D, std=D ** -0.5),
        "query.bias": rnd(H * Dk, std=0.3),
        "query_norm.weight": 1 + rnd(H, Dk, std=0.3),
        "query_norm.bias": rnd(H, Dk, std=0.3),
        "keys": rnd(H, 2, n, Dk // 2, std=(Dk // 2) ** -0.5),
        "values": rnd(n * n, D, std=D ** -0.5),
        "dout": rnd(N, D),
    }
    for t in p.values():
        t.requires_grad_(True)
    return p


def forward(p):
    half = Dk // 2
    q = p["inp"] @ p["query.weight"].T + p["query.bias"]           # (N, H*Dk)
    q = q.view(N, H, Dk)
    mean = q.mean(-1, keepdim=True)
    var = ((q - mean) ** 2).mean(-1, keepdim=True)                 # biased, as LayerNorm
    qn = (q - mean) / torch.sqrt(var + LN_EPS) * p["query_norm.weight"] + p["query_norm.bias"]
    K1, K2 = p["keys"][:, 0], p["keys"][:, 1]                      # (H, n, half)
    s1 = torch.einsum("thc,hrc->thr", qn[..., :half], K1)          # (N, H, n)
    s2 = torch.einsum("thc,hrc->thr", qn[..., half:], K2)
    full = (s1[..., :, None] + s2[..., None, :]).reshape(N, H, n * n)  # slot = row*n + col
    scores, slots = torch.topk(full, k, dim=-1)                   # sorted, best first
    w = torch.softmax(scores, dim=-1)
    vals = p["values"][slots]                                      # (N, H, k, D)
    out = (w[..., None] * vals).sum(dim=(1, 2))                    # heads summed
    return out, slots, full


def selection_margin(full):
    # Gap between the k-th and (k+1)-th best slot of every query: the float32
    # C code must make the same choice, so insist on a clear gap.
    top = torch.topk(full, k + 1, dim=-1).values
    gaps = top[..., :-1] - top[..., 1:]
    return gaps.min().item()


def main():
    for seed in range(100):
        p = draw(seed)
        out, slots, full = forward(p)
        if selection_margin(full.detach()) > 1e-3:
            break
    else:
        sys.exit("no seed with well separated scores")
    loss = (out * p["dout"]).sum()
    loss.backward()

    names = ["inp", "query.weight", "query.bias", "query_norm.weight", "query_norm.bias", "keys", "values"]
    with open(OUT, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<I", VERSION))
        f.write(struct.pack("<8i", N, D, n, H, Dk, k, QUERY_NORM, QUERY_BIAS))

        def put(t):
            f.write(t.detach().numpy().astype("<f4").tobytes())

        for name in names:
            put(p[name])
        put(p["dout"])
        put(out)
        f.write(slots.numpy().astype("<i4").tobytes())
        for name in names:
            put(p[name].grad)
    print(f"wrote {OUT} (seed {seed}, min score gap {selection_margin(full.detach()):.4f})")


if __name__ == "__main__":
    main()
