#!/usr/bin/env python3
"""Renders the runs of bench/compare.sh (one JSON object a line, each tagged
with engine, round and idle_before) as a markdown report: medians per engine,
ratios to PyTorch, CPU-normalised throughput, and every round.

Usage: bench/report.py --runs DIR/runs.jsonl [--command C] [--workload W]
       [--threads T] [--rounds N] [--seconds S] [--nice N]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--runs", required=True)
ap.add_argument("--command", default="bench/compare.sh")
ap.add_argument("--workload", default="mlp24")
ap.add_argument("--threads", default="2")
ap.add_argument("--rounds", default="?")
ap.add_argument("--seconds", default="3")
ap.add_argument("--nice", default="0")
a = ap.parse_args()
runs, cmdline, workload, threads, rounds, seconds, nice = a.runs, a.command, a.workload, a.threads, a.rounds, a.seconds, a.nice
with open(runs) as fh:
    rows = [json.loads(line) for line in fh]
keys = [("train_samples_per_second", "train samples/s"), ("infer_samples_per_second", "infer samples/s"), ("peak_rss_bytes", "peak RSS MiB")]
engines = [e for e in ("pytorch", "go", "openblas") if any(r["engine"] == e for r in rows)]
label = {"pytorch": "PyTorch", "go": "dcrnn pure Go", "openblas": "dcrnn OpenBLAS"}
med = {e: {k: statistics.median(r[k] for r in rows if r["engine"] == e) for k, _ in keys} for e in engines}
best = {e: {k: max(r[k] for r in rows if r["engine"] == e) for k, _ in keys} for e in engines}
def cpu():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
def fmt(k, v):
    return f"{v / 2**20:.0f}" if k == "peak_rss_bytes" else f"{v:,.0f}"
backend = {e: next(r.get("backend", "?") for r in rows if r["engine"] == e) for e in engines}
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
except OSError:
    commit = "?"
print(f"### dcrnn bench `{workload}` vs PyTorch — {time.strftime('%Y-%m-%d %H:%M %Z')}")
print()
print(f"Command: `{cmdline.strip()}` (commit {commit}; {rounds} interleaved rounds, ≥ {seconds} s per phase, "
      f"{threads} threads, OPENBLAS_NUM_THREADS=1, nice {nice}; {os.cpu_count()} CPUs: {cpu()}). Medians; ratio = engine / PyTorch "
      "(> 1 is faster for samples/s; < 1 is smaller for RSS).")
print()
hdr = "| engine | backend |" + "".join(f" {n} | ×PyTorch |" for _, n in keys)
print(hdr)
print("|" + "---|" * (2 + 2 * len(keys)))
for e in engines:
    cells = []
    for k, _ in keys:
        v = med[e][k]
        ratio = v / med["pytorch"][k] if "pytorch" in med and med["pytorch"][k] else float("nan")
        cells.append(f" {fmt(k, v)} | {ratio:.2f} |")
    print(f"| {label[e]} | {backend[e]} |" + "".join(cells))
print()
print("CPU-normalised (samples per CPU-second of the process, all its threads; robust to other load on the "
      "machine, but it charges spin-waiting threads too). cores = CPU seconds / wall seconds of the timed phase:")
print()
print("| engine | train samples/CPU-s | ×PyTorch | train cores | infer samples/CPU-s | ×PyTorch | infer cores |")
print("|---|---|---|---|---|---|---|")
def per_cpu(r, ph):
    c = r.get(ph + "_cpu_seconds") or 0
    return r[ph + "_samples_per_second"] * r[ph + "_seconds"] / c if c > 0 else float("nan")
pc = {e: {ph: statistics.median(per_cpu(r, ph) for r in rows if r["engine"] == e) for ph in ("train", "infer")} for e in engines}
cores = {e: {ph: statistics.median(r[ph + "_cpu_seconds"] / r[ph + "_seconds"] for r in rows if r["engine"] == e) for ph in ("train", "infer")} for e in engines}
for e in engines:
    cells = []
    for ph in ("train", "infer"):
        ratio = pc[e][ph] / pc["pytorch"][ph] if "pytorch" in pc else float("nan")
        cells.append(f" {pc[e][ph]:,.0f} | {ratio:.2f} | {cores[e][ph]:.2f} |")
    print(f"| {label[e]} |" + "".join(cells))
print()
print("Per round (train / infer samples/s, train / infer cores, peak RSS MiB, CPU idle fraction just before the run):")
print()
for r in rows:
    print(f"- round {r['round']} {label[r['engine']]}: {r['train_samples_per_second']:,.0f} / {r['infer_samples_per_second']:,.0f}, "
          f"{r['train_cpu_seconds'] / r['train_seconds']:.2f} / {r['infer_cpu_seconds'] / r['infer_seconds']:.2f} cores, "
          f"{r['peak_rss_bytes'] / 2**20:.0f} MiB, idle {r['idle_before']:.2f}")
print()
print(f"Raw JSON lines: {runs}")
