"""torch_tiny.py: PyTorch (eager, CPU) training throughput of the same dense
tiny model bin/bench_train times, for the train_vs_torch_<t>t lines.

The model matches lib/model/transformer.c at the tiny preset: byte vocabulary
(V = 256), T = 128, L = 4 pre-norm blocks, D = 128, H = 4, MLP 4D with GELU
(tanh approximation), LayerNorm with bias, biases on every linear layer,
learned position embeddings, output head tied to the token embedding, mean
cross-entropy. One step is what the C trainer does: forward, zero grads,
backward, global-norm clipping at 1.0, AdamW (betas 0.9/0.95, eps 1e-8,
weight decay 0.1 on matrices only). Batches are random windows of
out/data/fortunes.txt, B = 16. Timing as bench_train: warmup steps, then 5
repeats in which the thread counts take turns, each running a number of steps
calibrated to about --seconds in total; the best run per thread count counts.

Prints torch_tokens_per_s_<t>t: <value> per thread count (notes go to stderr).
Usage: /usr/bin/python3 tests/bench/torch_tiny.py --threads 1,2 [--seconds S]
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, L, D, H, B = 256, 128, 4, 128, 4, 16
WARMUP, REPEATS = 3, 5
DATA = "out/data/fortunes.txt"


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D)
        self.fc = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def attention(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        # (b, t, D) -> (b, H, t, hs); PyTorch 1.13 has no fused attention on CPU.
        q, k, v = (z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D // H))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, D)
        return self.proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(D)
        for m in self.modules():  # GPT-2 style init, as the C model (loss starts near ln 256)
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # tied head
        return F.cross_entropy(logits.view(-1, V), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", required=True, help="comma-separated thread counts, e.g. 1,2")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    torch.manual_seed(1337)

    data = torch.frombuffer(bytearray(open(DATA, "rb").read()), dtype=torch.uint8).long()
    model = Tiny()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(42)

    def step():
        start = torch.randint(0, len(data) - T - 1, (B,), generator=gen)
        window = torch.stack([data[s:s + T + 1] for s in start.tolist()])
        loss = model(window[:, :-1], window[:, 1:])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for t in threads:
        torch.set_num_threads(t)
        for _ in range(WARMUP):
            step()
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    steps = max(2, int(args.seconds / REPEATS / len(threads) / one))
    best = {t: math.inf for t in threads}
    for _ in range(REPEATS):
        for t in threads:
            torch.set_num_threads(t)
            step()  # wakes the thread pool at this size
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = step()
            best[t] = min(best[t], (time.perf_counter() - t0) / steps)
    print(f"note: torch {torch.__version__}, threads {threads}, {steps} steps per run, loss {loss:.4f}",
          file=sys.stderr)
    for t in threads:
        print(f"torch_tokens_per_s_{t}t: {B * T / best[t]:.0f}")


if __name__ == "__main__":
    main()
