#!/usr/bin/python3
"""Draws loss_bench.py's CSV: time to the last resource against packet
loss, HTTP/2 over TCP and HTTP/3 over QUIC, each round a dot and the
median a line.

    /usr/bin/python3 tests/bench/plot_loss.py build/bench/loss.csv build/bench/loss.png
"""
import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"h2": "HTTP/2 over TCP", "h3": "HTTP/3 over QUIC"}


def main(source, target):
    times = {}
    with open(source) as f:
        for row in csv.DictReader(f):
            key = (row["protocol"], int(row["loss_percent"]))
            times.setdefault(key, []).append(float(row["seconds"]) * 1000)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for protocol, label in LABELS.items():
        losses = sorted(loss for (p, loss) in times if p == protocol)
        if not losses:
            continue
        for loss in losses:
            axes.scatter([loss] * len(times[(protocol, loss)]), times[(protocol, loss)], s=12,
                         alpha=0.4, color="C0" if protocol == "h2" else "C1")
        axes.plot(losses, [statistics.median(times[(protocol, loss)]) for loss in losses],
                  marker="o", label=label + " (median)", color="C0" if protocol == "h2" else "C1")
    axes.set_xlabel("packets lost, each way (%)")
    axes.set_ylabel("time to the last resource (ms)")
    axes.set_title("One page of 61 resources on one connection, under loss")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
