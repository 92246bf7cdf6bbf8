#!/usr/bin/env python3
"""A second opinion on how predictable a trace set is: a nearest-neighbour forecaster built for w20.

Usage: scripts/predict-ceiling.py DATASET_DIR [--skip-prefix P] [--k 800] [--horizons 1,5,10]
(needs python3-numpy). Norway 3G, which shares its folder with FCC's trace_* files:
  scripts/predict-ceiling.py ../shared/data/bandwidth-traces/pensieve-fcc-hsdpa/jsonl/cooked_traces --skip-prefix trace_

dwcp-predict's GRU is one way to learn from a link's rate history. This script is another, built
independently, to tell "the GRU could do better" from "the history says no more": for each test
bin it finds the K training bins whose recent history looks most alike (nine scale-free features:
the last rate against the means of the last 2, 3, 5, 10, 20 and 30 bins, the spread of the last 10
and 30, the last change; all in log space) and answers with the multiplier of the last rate that
the most of those K neighbours' outcomes fall within +-20 % of: the w20-optimal answer for them.
It prints w20 for "last value", EWMA (alpha 0.25, as dwcp-predict's) and the neighbours, on the
same 60/40 split of sessions as dwcp-predict (FNV-1a of the file name).

Each sample counts as one bin (dwcp-predict resamples to 1 s bins; the pensieve 3G and FCC samples
are about 1 s apart), so compare the rows of this table with each other, not with `eval`'s.
"""
import argparse
import glob
import json
import os

import numpy as np

HISTORY = 30


def is_training(name, percent=60):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h % 100 < percent


def rates(path):
    out = []
    for line in open(path):
        try:
            bps = float(json.loads(line)["bps"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(bps if bps > 0 else np.nan)
    return np.array(out)


def examples(bps, h, alphas=(0.25,), extra=None):
    """Features, log(mean of the next h bins / last), and log(EWMA 0.25 / last) for every bin that
    has a full history and a full future. The features are `history_features`, then whatever
    `extra(y, i, past, ewmas)` adds (y: the log rates, ewmas: one EWMA per rate in `alphas`,
    which must hold 0.25)."""
    y = np.log(bps)
    xs, ts, es = [], [], []
    answer = alphas.index(0.25)
    ewmas = [None] * len(alphas)
    for i in range(len(bps)):
        if np.isnan(y[i]):
            ewmas = [None] * len(alphas)
            continue
        ewmas = [bps[i] if e is None else e + a * (bps[i] - e) for e, a in zip(ewmas, alphas)]
        if i < HISTORY or i + h >= len(bps):
            continue
        past, future = y[i - HISTORY + 1:i + 1], bps[i + 1:i + h + 1]
        if np.isnan(past).any() or np.isnan(future).any():
            continue
        last = y[i]
        xs.append(history_features(past) + (extra(y, i, past, ewmas) if extra else []))
        ts.append(np.log(future.mean()) - last)
        es.append(np.log(ewmas[answer]) - last)
    return xs, ts, es


def history_features(past):
    """The nine scale-free features of the last HISTORY bins (log rates, the last one last)."""
    last = past[-1]
    return ([last - past[-k:].mean() for k in (2, 3, 5, 10, 20, 30)]
            + [past[-10:].std(), past.std(), past[-1] - past[-2]])


def load_traces(dataset, skip_prefix, tool):
    """Every *.jsonl under `dataset` (but those named `skip_prefix`...), read once: (whether it
    is in the training split, its rates)."""
    files = sorted(f for f in glob.glob(os.path.join(dataset, "**", "*.jsonl"), recursive=True)
                   if not (skip_prefix and os.path.basename(f).startswith(skip_prefix)))
    if not files:
        raise SystemExit(f"{tool}: no *.jsonl under {dataset}")
    return [(is_training(os.path.basename(f)), rates(f)) for f in files]


def split(traces, h, make=examples):
    """`make`'s examples for horizon h: (features, targets, EWMA answers) of the training
    split, then of the test split, as arrays."""
    sets = {True: ([], [], []), False: ([], [], [])}
    for training, bps in traces:
        for into, part in zip(sets[training], make(bps, h)):
            into += part
    return [tuple(np.array(v) for v in sets[s]) for s in (True, False)]


def w20(forecast, target):
    """Share of forecasts within +-20 % of the actual mean (both as log ratios to the last bin)."""
    return float(np.mean(np.abs(np.exp(forecast - target) - 1) <= 0.2))


def neighbours(train_x, train_t, test_x, k):
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-9
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    grid = np.linspace(-1.5, 1.0, 251)   # candidate log multipliers of the last rate
    lo, hi = grid - np.log(1.2), grid - np.log(0.8)   # outcomes each candidate hits
    out = []
    for s in range(0, len(b), 256):
        d = ((b[s:s + 256, None, :] - a[None, :, :]) ** 2).sum(-1)
        near = train_t[np.argpartition(d, k, axis=1)[:, :k]]
        hits = ((near[:, None, :] >= lo[None, :, None]) & (near[:, None, :] <= hi[None, :, None])).sum(-1)
        out.append(grid[hits.argmax(1)])
    return np.concatenate(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--skip-prefix", help="leave out files whose name starts with this")
    ap.add_argument("--k", type=int, default=800)
    ap.add_argument("--horizons", default="1,5,10")
    args = ap.parse_args()
    # Each trace is read once; only the examples depend on the horizon.
    traces = load_traces(args.dataset, args.skip_prefix, "predict-ceiling")
    print(f"{'h':>3} {'n test':>7} {'last':>6} {'ewma':>6} {'knn':>6} {'knn - best':>10}")
    for h in (int(x) for x in args.horizons.split(",")):
        (trx, trt, _), (tex, tet, tee) = split(traces, h)
        if len(trt) <= args.k or len(tet) == 0:
            print(f"{h:>3} too few bins")
            continue
        last, ewma = w20(np.zeros_like(tet), tet), w20(tee, tet)
        knn = w20(neighbours(trx, trt, tex, args.k), tet)
        print(f"{h:>3} {len(tet):>7} {last:6.3f} {ewma:6.3f} {knn:6.3f} {knn - max(last, ewma):+10.3f}")


if __name__ == "__main__":
    main()
