#!/usr/bin/env python3
"""The data-parallel scaling model of docs/performance.md, from throughput measured here.

One step of data-parallel SGD on N nodes is the compute of the node's share of the batch,
then a ring all-reduce of the gradients (no overlap, as `recurrent` does it today):

    bytes     = 4 x parameters              (f32 gradients; 2 x with bf16 compression)
    t_comm(N) = 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency
    t_comp(N) = t_1 / N    strong scaling: the global batch fixed (`--batch` stays global)
              = t_1        weak scaling: each node keeps the one-node batch
    efficiency = t_comp / (t_comp + t_comm)

t_1 is the step time of one node (this machine: 2 cores) at the default batch, from the
measured tokens/s. With the all-reduce overlapped with the backward pass layer by layer,
the part of t_comm that fits under the backward (about 2/3 of a step's compute) is hidden:
step = t_comp + max(0, t_comm - 2/3 t_comp).

Strong scaling ends at N = the global batch's rows (a rank needs a row), and is optimistic
well before: at a few rows per rank the products are small and run far below the one-node
efficiency that t_1 / N assumes.

usage: mpi_scaling.py NAME:PARAMS:BATCH:SEQ_LEN:TOKENS_PER_S [...] [--latency-us 20]
"""

import argparse

NODES = [8, 16, 32, 64, 128, 256]
LINKS_GBIT = [10, 25, 100]


def comm_s(n, nbytes, gbit, latency):
    return 2 * (n - 1) / n * nbytes / (gbit * 1e9 / 8) + 2 * (n - 1) * latency


def efficiency(n, t1, nbytes, gbit, latency, strong, overlap=False):
    comp = t1 / n if strong else t1
    comm = comm_s(n, nbytes, gbit, latency)
    exposed = max(0.0, comm - 2 / 3 * comp) if overlap else comm
    return comp / (comp + exposed)


def largest(t1, nbytes, gbit, latency, strong, batch, overlap=False):
    """The largest N (powers of two up to 4096; strong: up to the batch's rows) still at
    80% efficiency or more."""
    best = 1
    n = 2
    while n <= (batch if strong else 4096):
        if efficiency(n, t1, nbytes, gbit, latency, strong, overlap) >= 0.8:
            best = n
        n *= 2
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="NAME:PARAMS:BATCH:SEQ_LEN:TOKENS_PER_S")
    ap.add_argument("--latency-us", type=float, default=20.0, help="per message, one hop (TCP over Ethernet: 10-50 us)")
    a = ap.parse_args()
    lat = a.latency_us * 1e-6
    for spec in a.models:
        name, params, batch, seq, rate = spec.split(":")
        params, batch, rate = int(params), int(batch), float(rate)
        tps = batch * int(seq)
        t1 = tps / rate
        f32 = 4 * params
        print(f"\n### {name}: {params:,} parameters, {f32 / 1e6:.1f} MB of f32 gradients per step "
              f"({f32 / 2e6:.1f} MB in bf16); one node: {rate:,.0f} tokens/s, {t1 * 1e3:.0f} ms per step of {tps:,} tokens\n")
        print("| N | " + " | ".join(f"all-reduce at {g} Gbit/s" for g in LINKS_GBIT)
              + " | " + " | ".join(f"strong eff. {g}G" for g in LINKS_GBIT)
              + " | " + " | ".join(f"weak eff. {g}G" for g in LINKS_GBIT) + " |")
        print("|" + " --- |" * (1 + 3 * len(LINKS_GBIT)))
        for n in NODES:
            comms = [f"{comm_s(n, f32, g, lat) * 1e3:.1f} ms" for g in LINKS_GBIT]
            strong = [f"{efficiency(n, t1, f32, g, lat, True):.0%}" if n <= batch else "-" for g in LINKS_GBIT]
            weak = [f"{efficiency(n, t1, f32, g, lat, False):.0%}" for g in LINKS_GBIT]
            print(f"| {n} | " + " | ".join(comms + strong + weak) + " |")
        print(f"\nLargest N at 80% efficiency or more (powers of two; strong: at most the {batch} rows of the batch):\n")
        print("| regime | " + " | ".join(f"{g} Gbit/s" for g in LINKS_GBIT) + " |")
        print("|" + " --- |" * (1 + len(LINKS_GBIT)))
        for label, strong, nbytes, overlap in [
            ("strong, f32", True, f32, False),
            ("strong, bf16 gradients", True, f32 / 2, False),
            ("strong, f32, overlapped", True, f32, True),
            ("weak, f32", False, f32, False),
            ("weak, bf16 gradients", False, f32 / 2, False),
            ("weak, f32, overlapped", False, f32, True),
        ]:
            cells = [str(largest(t1, nbytes, g, lat, strong, batch, overlap)) for g in LINKS_GBIT]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
