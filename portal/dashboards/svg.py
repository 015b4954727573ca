"""Charts drawn on the server as SVG (no JavaScript, no CDN, allowed by the CSP).

Pure functions: data in, markup out. Every bar may link to the list behind it."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ["#0b5cad", "#2e90fa", "#12b76a", "#f79009", "#f04438", "#7a5af8", "#667085", "#ee46bc"]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | float
    href: str | None = None
    display: str | None = None  # the value as shown (e.g. ¥1,234.56); defaults to the number


def bar_chart(bars: list[Bar], title: str, width: int = 520, height: int = 200) -> Markup:
    """A vertical bar chart with value labels; negative values are drawn below the axis."""
    if not bars:
        return Markup("")
    pad_left, pad_right, pad_top, pad_bottom = 8, 8, 20, 44
    top = max(0, max(b.value for b in bars))
    bottom = min(0, min(b.value for b in bars))
    span = (top - bottom) or 1
    plot_h = height - pad_top - pad_bottom
    zero_y = pad_top + plot_h * top / span
    slot = (width - pad_left - pad_right) / len(bars)
    bar_w = max(6.0, slot * 0.62)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{pad_left}" y1="{zero_y:.1f}" x2="{width - pad_right}" y2="{zero_y:.1f}" stroke="#d0d5dd"/>',
    ]
    for i, bar in enumerate(bars):
        x = pad_left + i * slot + (slot - bar_w) / 2
        h = plot_h * abs(bar.value) / span
        y = zero_y - h if bar.value >= 0 else zero_y
        shown = bar.display if bar.display is not None else f"{bar.value:,}"
        color = PALETTE[i % len(PALETTE)] if bar.value >= 0 else "#f04438"
        rect = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" fill="{color}" rx="2">'
                f'<title>{escape(bar.label)}: {escape(shown)}</title></rect>'
                f'<text x="{x + bar_w / 2:.1f}" y="{(y - 4) if bar.value >= 0 else (y + h + 12):.1f}" '
                f'text-anchor="middle" font-size="11" fill="#344054">{escape(shown)}</text>')
        if bar.href:
            rect = f'<a href="{escape(bar.href)}">{rect}</a>'
        parts.append(rect)
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" font-size="11" '
            f'fill="#475467">{escape(_shorten(bar.label))}</text>'
        )
    parts.append("</svg>")
    # every text interpolated above is escape()d; the rest are numbers and the PALETTE colours
    return Markup("".join(parts))  # noqa: S704


def _shorten(label: str, limit: int = 12) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
