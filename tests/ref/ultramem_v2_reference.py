#!/usr/bin/python3
"""ultramem_v2_reference.py: an independent PyTorch UltraMemV2 layer, to
cross-check lib/memory/ultramem_v2.c (per-rank queries, rank-2 TDQKR, 2 MCS
cores, PEER-style values, one output projection).

Run by hand from the repo root (needs python3-torch, python3-numpy):

    /usr/bin/python3 tests/ref/ultramem_v2_reference.py

It writes tests/fixtures/ultramem_v2_small.bin (format in tests/fixtures/README.md),
loaded by the `ultramem_v2_fixture` suite in tests/test_ultramem_v2.c.
Written from the maths (batched tensor ops, torch.linalg.svd for the
selection vectors, torch.topk, autograd for every gradient of
L = sum(out * dout)); the address shuffle is a random permutation stored in
the fixture (the C test installs it in place of its own).
"""
import struct

import numpy as np
import torch

N, D, n, Dk, m, Dv, Dp, r, h = 5, 8, 4, 4, 3, 4, 3, 2, 2
EPS = 1e-6
MAGIC, VERSION = b"UMV2", 1
OUT = "tests/fixtures/ultramem_v2_small.bin"
NAMES = ["query.weight", "query_norm.weight", "keys", "key_norm.weight", "cores", "pre_value_proj.weight",
         "pre_values", "values", "value_proj.weight"]


def draw(seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0, mean=0.0):
        return (mean + torch.randn(*shape, generator=g, dtype=torch.float64) * std).float().double()

    return {
        "inp": rnd(N, D),
        "query.weight": rnd(2 * r * Dk, D, std=Dk ** -0.5),  # [row|col][rank][Dk]
        "query_norm.weight": rnd(Dk, mean=0.8, std=0.2),
        "keys": rnd(2, r * n, Dk, std=Dk ** -0.5),           # [row|col][rank*n + key]
        "key_norm.weight": rnd(Dk, mean=0.8, std=0.2),
        "cores": torch.rand(h, r, r, generator=g, dtype=torch.float64).float().double(),
        "pre_value_proj.weight": rnd(Dp, D, std=0.4),
        "pre_values": rnd(n * n, Dp, std=0.5),
        "values": rnd(n * n, Dv, std=0.5),
        "value_proj.weight": rnd(D, Dv, std=0.5),
        "dout": rnd(N, D),
        "perm": torch.randperm(n * n, generator=g),
    }


def rms(x, w):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def forward(p):
    q = rms((p["inp"] @ p["query.weight"].T).view(N, 2, r, Dk), p["query_norm.weight"])
    k = rms(p["keys"].view(2, r, n, Dk), p["key_norm.weight"])
    S = torch.einsum("tsad,sakd->tsak", q, k)  # (N, side, rank, key)
    C = p["cores"].sum(0)
    U, _, Vh = torch.linalg.svd(C.detach())
    u, t = U[:, 0], Vh[0, :]
    if u[torch.argmax(u.abs())] < 0:  # sign: largest-magnitude component of u positive
        u, t = -u, -t
    a_row = torch.einsum("a,tak->tk", u, S[:, 0].detach())
    a_col = torch.einsum("a,tak->tk", t, S[:, 1].detach())
    rows = torch.topk(a_row, m, dim=1).indices
    cols = torch.topk(a_col, m, dim=1).indices
    out_rows = []
    for i in range(N):
        R = S[i, 0][:, rows[i]].T  # (m, r)
        Q = S[i, 1][:, cols[i]].T
        grid = (R @ C @ Q.T).detach().reshape(-1)
        cells = torch.topk(grid, m).indices
        ra, cb = cells // m, cells % m
        Rw, Qw = R[ra], Q[cb]
        virt = rows[i][ra] * n + cols[i][cb]
        win = p["perm"][virt]
        s = torch.einsum("ja,cab,jb->jc", Rw, p["cores"], Qw)  # (m, h)
        tv = p["pre_value_proj.weight"] @ p["inp"][i]
        pre = p["pre_values"][win] @ tv  # (m)
        w = s * pre[:, None]
        V = p["values"][win].view(m, h, Dv // h)
        acc = (w[:, :, None] * V).sum(0).reshape(Dv)
        out_rows.append(p["value_proj.weight"] @ acc)
    return torch.stack(out_rows)


def main():
    p = draw(2025)
    for k in ["inp"] + NAMES:
        p[k].requires_grad_(True)
    out = forward(p)
    (out * p["dout"]).sum().backward()
    with open(OUT, "wb") as f:
        f.write(MAGIC + struct.pack("<8i", VERSION, N, D, n, Dk, m, Dv, Dp))
        f.write(p["perm"].numpy().astype("<i4").tobytes())
        def put(x):
            f.write(x.detach().numpy().astype("<f4").tobytes())
        for k in ["inp"] + NAMES + ["dout"]:
            put(p[k])
        put(out)
        put(p["inp"].grad)
        for k in NAMES:
            put(p[k].grad)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
