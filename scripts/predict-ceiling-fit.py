#!/usr/bin/env python3
"""A third opinion on how predictable a trace set is: forecasters fitted for w20 on the session's
whole history.

Usage: scripts/predict-ceiling-fit.py DATASET_DIR [--skip-prefix P] (needs python3-numpy). Norway 3G:
  scripts/predict-ceiling-fit.py ../shared/data/bandwidth-traces/pensieve-fcc-hsdpa/jsonl/cooked_traces --skip-prefix trace_

`scripts/predict-ceiling.py` looks at the last 30 bins only. This one adds what a longer memory
could know: EWMAs at alpha 0.05, 0.1, 0.25 and 0.5, the mean, median and spread of the session so
far, how far into the session the bin is, the level, and the last 10 bins' max and min (22
features, log space). On them it fits, with the smooth hit loss `dwcp-predict train` uses
(sigma^2 (1 - exp(-e^2 / 2 sigma^2)), sigma from 1 down to 0.15), a linear model and a network of 16
tanh units (Adam, 3 seeds each; "x3" rows answer with the seeds' mean), and prints their w20 next
to last value, EWMA and the nearest neighbours, on the same split and rows as predict-ceiling.py.
"""
import argparse
import importlib.util
import os

import numpy as np

_spec = importlib.util.spec_from_file_location("ceiling", os.path.join(os.path.dirname(os.path.abspath(__file__)), "predict-ceiling.py"))
ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ceiling)

ALPHAS = (0.05, 0.1, 0.25, 0.5)


def longer_memory(y, i, past, ewmas):
    """The features beyond predict-ceiling.py's nine: the EWMAs, the session so far, the position
    in it, the level, the last 10 bins' extremes."""
    last = y[i]
    session = y[:i + 1]
    session = session[~np.isnan(session)]
    return ([np.log(e) - last for e in ewmas]
            + [last - session.mean(), last - np.median(session), session.std(), np.log(i + 1) / 7, last / 20 - 0.8]
            + [last - past[-10:].max(), last - past[-10:].min()])


def examples(bps, h):
    """predict-ceiling.py's examples with the longer memory's features added."""
    return ceiling.examples(bps, h, alphas=ALPHAS, extra=longer_memory)


def fit(x, t, hidden=0, seed=0, steps=3000, batch=4096, rate=0.01):
    """Fits log(outcome / last) for w20 (the smooth hit loss); returns the forecaster."""
    rng = np.random.default_rng(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z_all = (x - mu) / sd
    d = z_all.shape[1]
    if hidden:
        params = [rng.normal(0, 1 / np.sqrt(d), (d, hidden)), np.zeros(hidden),
                  rng.normal(0, 0.1 / np.sqrt(hidden), hidden), np.array([np.median(t)])]
    else:
        params = [np.zeros(d), np.array([np.median(t)])]

    def forward(z):
        if hidden:
            a = np.tanh(z @ params[0] + params[1])
            return a, a @ params[2] + params[3][0]
        return None, z @ params[0] + params[1][0]

    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(steps):
        sigma = max(0.15, 1.0 - 0.85 * step / (steps * 0.6))
        pick = rng.integers(0, len(t), batch)
        z, target = z_all[pick], t[pick]
        a, f = forward(z)
        e = f - target
        g = e * np.exp(-e * e / (2 * sigma * sigma)) / batch
        if hidden:
            back = np.outer(g, params[2]) * (1 - a * a)
            grads = [z.T @ back + 1e-4 * params[0], back.sum(0), a.T @ g, np.array([g.sum()])]
        else:
            grads = [z.T @ g + 1e-5 * params[0], np.array([g.sum()])]
        for k, (p, gr) in enumerate(zip(params, grads)):
            m[k] = 0.9 * m[k] + 0.1 * gr
            v[k] = 0.999 * v[k] + 0.001 * gr * gr
            p -= rate * (m[k] / (1 - 0.9 ** (step + 1))) / (np.sqrt(v[k] / (1 - 0.999 ** (step + 1))) + 1e-8)
    return lambda x_new: forward((x_new - mu) / sd)[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--skip-prefix", help="leave out files whose name starts with this")
    ap.add_argument("--horizons", default="1,5,10")
    args = ap.parse_args()
    traces = ceiling.load_traces(args.dataset, args.skip_prefix, "predict-ceiling-fit")
    print(f"{'h':>3} {'n test':>7} {'last':>6} {'ewma':>6} {'knn':>6} {'linear':>6} {'lin x3':>6} {'net':>6} {'net x3':>6}")
    for h in (int(x) for x in args.horizons.split(",")):
        (trx, trt, _), (tex, tet, tee) = ceiling.split(traces, h, make=examples)
        row = [ceiling.w20(np.zeros_like(tet), tet), ceiling.w20(tee, tet),
               ceiling.w20(ceiling.neighbours(trx[:, :9], trt, tex[:, :9], 800), tet)]
        for hidden in (0, 16):
            forecasts = [fit(trx, trt, hidden=hidden, seed=s)(tex) for s in range(3)]
            row += [ceiling.w20(forecasts[0], tet), ceiling.w20(np.mean(forecasts, 0), tet)]
        print(f"{h:>3} {len(tet):>7} " + " ".join(f"{w:6.3f}" for w in row), flush=True)


if __name__ == "__main__":
    main()
