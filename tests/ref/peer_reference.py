#!/usr/bin/python3
"""peer_reference.py: an independent PyTorch PEER layer, to cross-check lib/memory/peer.c.

Run by hand from the repo root (needs python3-torch, python3-numpy):

    /usr/bin/python3 tests/ref/peer_reference.py

It writes tests/fixtures/peer_small.bin (format in tests/fixtures/README.md),
which tests/test_peer_fixture.c loads. The layer is PEER (He 2024) as the
research notes describe it, with the conventions documented in peer.h:

    q_h  = RMSNorm(Wq_h x) * w      (eps 1e-6, one Dk weight shared by all heads)
    score(slot) = <q_h[:half], K1[slot // n]> + <q_h[half:], K2[slot % n]>
    (slots, s) = top-k of score over all n*n slots, best first
    g_h  = softmax(s)
    y    = sum_h sum_j g_hj * gelu_tanh(<U[slot_hj], x>) * V[slot_hj]

It is deliberately written differently from the C code: it scores ALL n*n
experts by broadcasting the row and column scores and calls torch.topk on the
whole grid (no product-key search), evaluates every expert of the table on
every token and then gathers, and autograd computes every gradient of
L = sum(out * dout). Maths in float64, stored as float32.
"""
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

N, D, n, H, Dk, k = 5, 8, 6, 3, 4, 3
QUERY_NORM = 1  # 1 = per-head RMSNorm with one shared Dk weight
RMS_EPS = 1e-6
MAGIC, VERSION = b"PEER", 1
OUT = "tests/fixtures/peer_small.bin"
NAMES = ["inp", "query.weight", "query_norm.weight", "keys", "experts_up", "experts_down"]


def draw(seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0):
        # Round to float32 first: the C test starts from these exact values.
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).float().double()

    p = {
        "inp": rnd(N, D),
        "query.weight": rnd(H * Dk, D, std=D ** -0.5),
        "query_norm.weight": 1 + rnd(Dk, std=0.3),
        "keys": rnd(2, n, Dk // 2, std=(Dk // 2) ** -0.5),
        "experts_up": rnd(n * n, D, std=D ** -0.5),
        "experts_down": rnd(n * n, D, std=D ** -0.5),
        "dout": rnd(N, D),
    }
    for t in p.values():
        t.requires_grad_(True)
    return p


def forward(p):
    half = Dk // 2
    x = p["inp"]
    q = (x @ p["query.weight"].T).view(N, H, Dk)
    if QUERY_NORM:
        q = q * torch.rsqrt((q * q).mean(-1, keepdim=True) + RMS_EPS) * p["query_norm.weight"]
    K1, K2 = p["keys"][0], p["keys"][1]                              # (n, half) each
    s1 = q[..., :half] @ K1.T                                        # (N, H, n) row scores
    s2 = q[..., half:] @ K2.T                                        # (N, H, n) column scores
    full = (s1[..., :, None] + s2[..., None, :]).reshape(N, H, n * n)  # slot = row*n + col
    scores, slots = torch.topk(full, k, dim=-1)                      # (N, H, k), best first
    gates = torch.softmax(scores, dim=-1)
    # Every expert's hidden activation for every token, then pick the selected ones.
    act = F.gelu(x @ p["experts_up"].T, approximate="tanh")          # (N, n*n)
    hid = torch.gather(act[:, None, :].expand(N, H, n * n), 2, slots)  # (N, H, k)
    down = p["experts_down"][slots]                                  # (N, H, k, D)
    out = torch.einsum("thj,thjd->td", gates * hid, down)           # heads summed
    return out, slots, full


def selection_margin(full):
    # Smallest gap between consecutive scores among the k+1 best of every
    # query: the float32 C code must choose and order the same slots.
    top = torch.topk(full, k + 1, dim=-1).values
    return (top[..., :-1] - top[..., 1:]).min().item()


def main():
    for seed in range(200):
        p = draw(seed)
        out, slots, full = forward(p)
        if selection_margin(full.detach()) > 1e-3:
            break
    else:
        sys.exit("no seed with well separated scores")
    loss = (out * p["dout"]).sum()
    loss.backward()
    # Every parameter must actually receive gradient, or the check is weaker than it looks.
    for name in NAMES:
        assert p[name].grad is not None and p[name].grad.abs().sum() > 0, name

    with open(OUT, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<I", VERSION))
        f.write(struct.pack("<7i", N, D, n, H, Dk, k, QUERY_NORM))

        def put(t):
            f.write(t.detach().numpy().astype("<f4").tobytes())

        for name in NAMES:
            put(p[name])
        put(p["dout"])
        put(out)
        f.write(slots.numpy().astype("<i4").tobytes())
        for name in NAMES:
            put(p[name].grad)
    print(f"wrote {OUT} (seed {seed}, min score gap {selection_margin(full.detach()):.4f})")


if __name__ == "__main__":
    main()
