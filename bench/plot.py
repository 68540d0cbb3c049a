#!/usr/bin/python3
"""Plot a benchmark run: delivered messages/s and p99 latency per target per scenario.

    /usr/bin/python3 bench/plot.py [bench/results/<timestamp>.json] [-o docs/benchmarks.png]

Without a file it takes the newest JSON in bench/results/. Needs matplotlib (Debian's python3, not a pyenv/venv one:
apt-get install -y python3-matplotlib).
"""
import argparse
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = ["wharf1", "wharf2", "mosquitto", "aedes"]
LABELS = {"wharf1": "Wharf, 1 edge", "wharf2": "Wharf, 2 edges (cross-node)", "mosquitto": "Mosquitto", "aedes": "aedes in memory"}
COLORS = {"wharf1": "#1f77b4", "wharf2": "#6baed6", "mosquitto": "#2ca02c", "aedes": "#ff7f0e"}


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?")
    ap.add_argument("-o", "--out", default=os.path.join(here, "..", "docs", "benchmarks.png"))
    args = ap.parse_args()
    path = args.file or max(glob.glob(os.path.join(here, "results", "*.json")))
    with open(path) as f:
        run = json.load(f)
    results = [r for r in run["results"] if r.get("load")]
    scenarios = []
    for r in results:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    targets = [t for t in TARGETS if any(r["target"] == t for r in results)]
    get = {(r["target"], r["scenario"]): r["load"] for r in results}

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(15, 10), sharex=True)
    width = 0.8 / max(1, len(targets))
    xs = range(len(scenarios))
    for i, t in enumerate(targets):
        pos = [x - 0.4 + width * (i + 0.5) for x in xs]
        tput = [get.get((t, s), {}).get("deliveredPerSec", 0) for s in scenarios]
        p99 = [get.get((t, s), {}).get("latencyMs", {}).get("p99", 0) for s in scenarios]
        ax1.bar(pos, tput, width, label=LABELS[t], color=COLORS[t])
        ax2.bar(pos, p99, width, label=LABELS[t], color=COLORS[t])
    ax1.set_yscale("log")
    ax1.set_ylabel("delivered messages/s (log)")
    ax1.set_title("Throughput (max rate, closed loop; latency scenario at a fixed rate)")
    ax1.grid(axis="y", which="both", alpha=0.3)
    ax1.legend(loc="upper left", ncol=len(targets), fontsize=9)
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency, ms (log)")
    ax2.set_title("p99 end-to-end latency (publish -> delivery)")
    ax2.grid(axis="y", which="both", alpha=0.3)
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=9)
    m = run.get("machine", {})
    fig.suptitle(f"Wharf benchmark {run['startedAt'][:16]} - {m.get('cpus')} cores {m.get('cpuModel', '')}, "
                 f"load generator + brokers + Kafka on the same machine", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {os.path.relpath(args.out)} from {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
