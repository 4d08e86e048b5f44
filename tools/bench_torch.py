#!/usr/bin/python3
"""PyTorch side-by-side for `make bench` (BENCHMARKS.md); a dev tool, not used by CI.

Run with Debian's /usr/bin/python3 (torch 1.13 + numpy):
    /usr/bin/python3 tools/bench_torch.py [--threads 2] [--quick] [--only matmul|forward] [--tsv]

Measures, at the given thread count:
  - matmul GFLOP/s on gelu-4l's matmul shapes (torch.matmul -> the BLAS torch uses),
  - a TransformerLens-style forward pass (the einsums of TransformerLens'
    Attention/MLP/LayerNormPre, IGNORE = -1e5 causal mask, exact-erf GELU) on
    gelu-4l's shape with random weights, batch 4 x 1024, tokens/s with and
    without the unembedding.
Timings are the best of several runs (the machine may be shared).
OPENBLAS_CORETYPE, if set in the environment, is left as it is (`make bench`
unsets it and OPENBLAS_L2_SIZE for this command, so OpenBLAS picks its kernels
for the CPU, e.g. AVX-512 ones).
--tsv: one tab-separated line per figure instead of the tables, for bench.c:
    matmul  M  K  N  wall-GFLOP/s  cpu-GFLOP/s
    forward unembed(0/1)  wall-tokens/s  cpu-tokens/s
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F


def best_time(fn, reps, budget):
    """Best wall seconds and best CPU seconds (process, all threads) per call over
    runs; each sample times enough calls for ~5 ms (as bench.c does)."""
    fn()  # warm up
    t = time.perf_counter()
    fn()
    t = time.perf_counter() - t
    batch = 1 if t > 0.005 else int(0.005 / max(t, 5e-5)) + 1
    best = best_cpu = float("inf")
    start = time.perf_counter()
    n = 0
    while n < reps or time.perf_counter() - start < budget:
        t, c = time.perf_counter(), time.process_time()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - t) / batch)
        best_cpu = min(best_cpu, (time.process_time() - c) / batch)
        n += 1
        if n >= 200:
            break
    return best, best_cpu


def bench_matmul(quick, tsv):
    shapes = [
        ("qkv  (1024x512 @ 512x1536)", 1024, 512, 1536),
        ("W_in (1024x512 @ 512x2048)", 1024, 512, 2048),
        ("W_out (1024x2048 @ 2048x512)", 1024, 2048, 512),
        ("W_O head (1024x64 @ 64x512)", 1024, 64, 512),
        ("unembed (256x512 @ 512x48262)", 256, 512, 48262),
    ]
    nt = torch.get_num_threads()
    if not tsv:
        print("matmul GFLOP/s (torch.matmul, float32): wall = best wall time; cpu = threads x flops / CPU s")
    for name, M, K, N in shapes:
        a = torch.randn(M, K)
        w = torch.randn(K, N) * 0.05
        out = torch.empty(M, N)
        t, c = best_time(lambda: torch.matmul(a, w, out=out), 3, 0.2 if quick else 0.6)
        if tsv:
            print("matmul\t%d\t%d\t%d\t%.2f\t%.2f" % (M, K, N, 2.0 * M * K * N / t / 1e9,
                                                   nt * 2.0 * M * K * N / c / 1e9 if c > 0 else 0.0), flush=True)
            continue
        cpu = "%8.1f" % (nt * 2.0 * M * K * N / c / 1e9) if c > 0 else "     n/a"
        print("  %-32s %8.1f %s" % (name, 2.0 * M * K * N / t / 1e9, cpu), flush=True)


class Gelu4l:
    """gelu-4l's shapes, processed weights (LayerNormPre), TransformerLens einsums."""

    def __init__(self, L=4, D=512, H=8, dh=64, M=2048, V=48262, n_ctx=1024):
        g = torch.Generator().manual_seed(0)
        r = lambda *s, sc: torch.randn(*s, generator=g) * sc
        self.L, self.D, self.H, self.dh = L, D, H, dh
        self.W_E, self.W_pos = r(V, D, sc=0.5), r(n_ctx, D, sc=0.2)
        self.blocks = []
        for _ in range(L):
            self.blocks.append(dict(
                W_Q=r(H, D, dh, sc=0.08), W_K=r(H, D, dh, sc=0.08), W_V=r(H, D, dh, sc=0.08),
                b_Q=r(H, dh, sc=0.1), b_K=r(H, dh, sc=0.1), b_V=torch.zeros(H, dh),
                W_O=r(H, dh, D, sc=0.08), b_O=r(D, sc=0.1),
                W_in=r(D, M, sc=0.08), b_in=r(M, sc=0.1), W_out=r(M, D, sc=0.04), b_out=r(D, sc=0.1)))
        self.W_U, self.b_U = r(D, V, sc=0.08), r(V, sc=0.1)
        self.mask = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
        self.IGNORE = torch.tensor(-1e5)

    @staticmethod
    def ln_pre(x, eps=1e-5):
        x = x - x.mean(-1, keepdim=True)
        scale = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        return x / scale

    def forward(self, tokens, unembed):
        B, T = tokens.shape
        x = self.W_E[tokens] + self.W_pos[:T][None]
        for b in self.blocks:
            n = self.ln_pre(x)
            q = torch.einsum("bpd,hdk->bphk", n, b["W_Q"]) + b["b_Q"]
            k = torch.einsum("bpd,hdk->bphk", n, b["W_K"]) + b["b_K"]
            v = torch.einsum("bpd,hdk->bphk", n, b["W_V"]) + b["b_V"]
            scores = torch.einsum("bqhk,bphk->bhqp", q, k) / self.dh ** 0.5
            scores = torch.where(self.mask[:T, :T], scores, self.IGNORE)
            pattern = F.softmax(scores, dim=-1)
            z = torch.einsum("bphk,bhqp->bqhk", v, pattern)
            attn_out = torch.einsum("bqhk,hkd->bqd", z, b["W_O"]) + b["b_O"]
            x = x + attn_out
            n2 = self.ln_pre(x)
            pre = torch.einsum("bpd,dm->bpm", n2, b["W_in"]) + b["b_in"]
            post = F.gelu(pre)
            x = x + torch.einsum("bpm,md->bpd", post, b["W_out"]) + b["b_out"]
        nf = self.ln_pre(x)
        if unembed:
            return nf @ self.W_U + self.b_U
        return nf


def bench_forward(quick, tsv):
    B, T = 4, 1024
    m = Gelu4l()
    tokens = torch.randint(0, 48262, (B, T))
    if not tsv:
        print("forward pass, gelu-4l shape, batch %d x %d (TransformerLens-style einsums)" % (B, T))
    nt = torch.get_num_threads()
    for unembed in (False, True):
        t, c = best_time(lambda: m.forward(tokens, unembed), 1 if quick else 3, 0)
        if tsv:
            print("forward\t%d\t%.1f\t%.1f" % (unembed, B * T / t, nt * B * T / c), flush=True)
            continue
        print("  %-16s %8.0f tokens/s wall (%.3f s), %8.0f cpu-tokens/s (threads x tokens / CPU s)" % (
            "with unembed" if unembed else "without unembed", B * T / t, t, nt * B * T / c), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["matmul", "forward"])
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.tsv:
        print("torch %s, %d threads, BLAS: %s, OPENBLAS_CORETYPE=%s" % (
            torch.__version__, torch.get_num_threads(),
            "MKL" if torch.backends.mkl.is_available() else "OpenBLAS/other", os.environ.get("OPENBLAS_CORETYPE", "(unset)")))
    with torch.no_grad():
        if args.only in (None, "matmul"):
            bench_matmul(args.quick, args.tsv)
        if args.only in (None, "forward"):
            bench_forward(args.quick, args.tsv)


if __name__ == "__main__":
    main()
