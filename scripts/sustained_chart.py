"""Chart of an S14 run (scripts/bench-sustained.sh): throughput, p99 and broker RSS against the
gigabytes written, as one SVG on stdout. Usage: sustained_chart.py samples.jsonl [machine.txt]"""
import json
import sys
from html import escape

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("msgs_per_s")]
title = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""
W, PH, L, R, T, GAP = 900, 170, 80, 40, 70, 45
panels = [
    ("throughput, k msg/s", lambda r: r["msgs_per_s"] / 1000),
    ("p99 latency, ms", lambda r: (r["p99_us"] or 0) / 1000),
    ("broker RSS, MiB", lambda r: (r["rss_kb"] or 0) / 1024),
    ("machine's free memory, GiB", lambda r: r.get("mem_free_kb", 0) / 1048576),
]
H = T + len(panels) * (PH + GAP) + 10
xs = [r["log_bytes"] / 1e9 for r in rows]
xmax = max(xs + [1e-9])
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="20" font-size="14">S14 sustained load: S2 1 KiB, 4 x 64 in flight, against GB written</text>',
       f'<text x="{L}" y="38" fill="#555">{escape(title)}</text>']
for i, (name, f) in enumerate(panels):
    top = T + i * (PH + GAP)
    ys = [f(r) for r in rows]
    ymax = max(ys + [1e-9]) * 1.1
    out.append(f'<text x="{L}" y="{top - 6}">{escape(name)}</text>')
    out.append(f'<rect x="{L}" y="{top}" width="{W - L - R}" height="{PH}" fill="none" stroke="#999"/>')
    for k in range(5):
        v = ymax * k / 4
        y = top + PH - PH * k / 4
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for k in range(6):
        gb = xmax * k / 5
        x = L + (W - L - R) * k / 5
        out.append(f'<text x="{x:.1f}" y="{top + PH + 15}" text-anchor="middle">{gb:.1f} GB</text>')
    pts = " ".join(f"{L + (W - L - R) * x / xmax:.1f},{top + PH - PH * y / ymax:.1f}" for x, y in zip(xs, ys))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>')
out.append("</svg>")
print("\n".join(out))
