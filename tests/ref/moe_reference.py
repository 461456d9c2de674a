#!/usr/bin/env python3
"""moe_reference.py: an independent PyTorch MoE layer, for cross-checking lib/memory/moe.c.

Written from the maths (research/pkm_moe_peer.md section 3), not from the C
code: the forward is a plain per-token loop and every gradient comes from
autograd. It writes tests/fixtures/moe_small.bin (Mixtral gates, shared
expert) and tests/fixtures/moe_small_raw.bin (raw Switch/DeepSeek gates, no
shared expert); the format is in tests/fixtures/README.md and
tests/test_moe_fixture.c reads them.

    python3 tests/ref/moe_reference.py        # from the repo root
"""
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

MAGIC = b"UMMOEFX1"


def moe_forward(x, p, cfg):
    """x (N, D) -> out (N, D), aux losses, chosen (N, k). p: dict of tensors."""
    N, D = x.shape
    X, k = cfg["X"], cfg["k"]
    logits = x @ p["router"].T                                  # (N, X)
    probs = torch.softmax(logits, dim=-1)
    top_p, chosen = torch.topk(probs, k, dim=-1)                # most probable first
    gates = top_p / top_p.sum(-1, keepdim=True) if cfg["normalize"] else top_p

    def expert(e, v):
        h = F.gelu(v @ p["w1"][e].T + p["b1"][e], approximate="tanh")
        return h @ p["w2"][e].T + p["b2"][e]

    rows = []
    for t in range(N):
        y = torch.zeros(D)
        for j in range(k):
            y = y + gates[t, j] * expert(int(chosen[t, j]), x[t])
        if cfg["Fs"]:
            h = F.gelu(x[t] @ p["sw1"].T + p["sb1"], approximate="tanh")
            y = y + h @ p["sw2"].T + p["sb2"]
        rows.append(y)
    out = torch.stack(rows)

    # Switch balance: f_i = share of the N*k slots (a constant), P_i = mean full softmax
    counts = torch.bincount(chosen.reshape(-1), minlength=X).to(torch.float64)
    f = (counts / (N * k)).detach()
    P = probs.mean(0)
    balance = cfg["alpha"] * X * (f * P).sum()
    zloss = cfg["beta"] * (torch.logsumexp(logits, dim=-1) ** 2).mean()
    return out, balance, zloss, chosen, logits


def routing_margin(logits, chosen, k):
    """Smallest gap between a token's k-th chosen logit and its best unchosen one."""
    srt = torch.sort(logits, dim=-1, descending=True).values
    if k == logits.shape[1]:
        return float("inf")
    return float((srt[:, k - 1] - srt[:, k]).min())


def make_case(cfg, seed):
    N, D, X, Fe, Fs = cfg["N"], cfg["D"], cfg["X"], cfg["Fe"], cfg["Fs"]
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    p = {
        "router": randn(X, D),
        "w1": randn(X, Fe, D, std=0.5), "b1": randn(X, Fe, std=0.2),
        "w2": randn(X, D, Fe, std=0.5), "b2": randn(X, D, std=0.2),
    }
    if Fs:
        p.update({"sw1": randn(Fs, D, std=0.5), "sb1": randn(Fs, std=0.2),
                  "sw2": randn(D, Fs, std=0.5), "sb2": randn(D, std=0.2)})
    R = randn(N, D)
    # redraw the input until the routing is far from a tie, so float C code
    # picks the same experts as this double reference
    while True:
        x = randn(N, D)
        with torch.no_grad():
            _, _, _, chosen, logits = moe_forward(x, p, cfg)
        if routing_margin(logits, chosen, cfg["k"]) > 1e-2:
            break
    return x, p, R


def param_order(cfg):
    names = ["router", "w1", "b1", "w2", "b2"]
    if cfg["Fs"]:
        names += ["sw1", "sb1", "sw2", "sb2"]
    return names


def write_fixture(path, cfg, seed):
    x, p, R = make_case(cfg, seed)
    x.requires_grad_(True)
    for t in p.values():
        t.requires_grad_(True)
    out, balance, zloss, chosen, _ = moe_forward(x, p, cfg)
    aux = balance + zloss
    L = (out * R).sum() + aux
    L.backward()

    def f64(t):
        return t.detach().contiguous().reshape(-1).numpy().astype("<f8").tobytes()

    with open(path, "wb") as fh:
        fh.write(MAGIC)
        fh.write(struct.pack("<7i", cfg["N"], cfg["D"], cfg["X"], cfg["k"], cfg["Fe"], cfg["Fs"], cfg["normalize"]))
        fh.write(struct.pack("<2d", cfg["alpha"], cfg["beta"]))
        fh.write(f64(x))
        for name in param_order(cfg):
            fh.write(f64(p[name]))
        fh.write(f64(R))
        fh.write(f64(out))
        fh.write(struct.pack("<3d", float(aux), float(balance), float(zloss)))
        fh.write(chosen.to(torch.int32).contiguous().reshape(-1).numpy().astype("<i4").tobytes())
        fh.write(f64(x.grad))
        for name in param_order(cfg):
            fh.write(f64(p[name].grad))
    print(f"wrote {path}: L={float(L):.6f} aux={float(aux):.6f} (balance {float(balance):.6f}, z {float(zloss):.6f})")


def main():
    base = dict(N=12, D=8, X=6, k=2, Fe=5, alpha=0.3, beta=0.05)
    write_fixture("tests/fixtures/moe_small.bin", dict(base, Fs=4, normalize=1), seed=1)
    write_fixture("tests/fixtures/moe_small_raw.bin", dict(base, k=3, Fs=0, normalize=0), seed=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
