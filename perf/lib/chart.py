"""A dependency-free SVG bar chart of ratios to a baseline."""

from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def ratio_svg(rows, value_key, ratio_key, title):
    scenarios = []
    servers = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
        if r["server"] not in servers:
            servers.append(r["server"])
    get = {(r["scenario"], r["server"]): r.get(ratio_key) for r in rows}
    top = max([v for v in get.values() if v] + [1.0]) * 1.15
    bar, gap, left, height, plot_h = 16, 28, 60, 360, 280
    width = left + len(scenarios) * (len(servers) * bar + gap) + 180
    y = lambda v: 40 + plot_h * (1 - v / top)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="20" font-size="14">{escape(title)}</text>']
    for t in [0.5 * i for i in range(int(top / 0.5) + 1)]:
        out.append(f'<line x1="{left}" x2="{width - 180}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 8}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    out.append(f'<line x1="{left}" x2="{width - 180}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#000" stroke-dasharray="4 3"/>')
    for i, sc in enumerate(scenarios):
        x0 = left + gap / 2 + i * (len(servers) * bar + gap)
        for j, sv in enumerate(servers):
            v = get.get((sc, sv))
            if not v:
                continue
            x = x0 + j * bar
            out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar - 2}" height="{y(0) - y(v):.1f}" fill="{COLORS[j % len(COLORS)]}">'
                       f'<title>{escape(sc)} {escape(sv)}: {v:.2f}</title></rect>')
        out.append(f'<text x="{x0 + len(servers) * bar / 2:.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{escape(sc)}</text>')
    for j, sv in enumerate(servers):
        ly = 50 + j * 18
        out.append(f'<rect x="{width - 170}" y="{ly - 10}" width="12" height="12" fill="{COLORS[j % len(COLORS)]}"/>'
                   f'<text x="{width - 152}" y="{ly}">{escape(sv)}</text>')
    out.append("</svg>")
    return "\n".join(out)
