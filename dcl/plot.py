"""Minimal PNG line and scatter plots drawn with Pillow (matplotlib is not a dependency).

Shared by the applications and the evaluation reports; it imports nothing of ``dcl``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
GRID, AXIS, TEXT = "#dddddd", "#333333", "#111111"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError):
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round ticks (steps of 1, 2 or 5 times a power of ten) around a range.

    The first and last ticks enclose ``[lo, hi]``; an empty range is widened by 1 each way.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"cannot place ticks on a non-finite range [{lo}, {hi}]")
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{digits}f}"


def _axis(lo: float, hi: float, fraction: float = 0.04) -> tuple[float, float, list[float]]:
    """Axis limits (the data range plus a margin) and the round ticks inside them."""
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * fraction
    lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi)
    return lo, hi, [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9] or ticks[:1]


def line_plot(
    path: str | Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    errors: Mapping[str, Sequence[float]] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (720, 460),
    lines: bool = True,
    markers: bool = True,
) -> Path:
    """Write a PNG with one coloured line (or point cloud) per series and a legend.

    Args:
        path: Output file (parent folders are created).
        series: Name -> ``(xs, ys)``; non-finite points are skipped.
        errors: Optional name -> symmetric error per point, drawn as vertical bars (e.g. std).
        title: Text above the plot.
        xlabel: Label of the horizontal axis.
        ylabel: Label of the vertical axis (drawn rotated).
        size: ``(width, height)`` in pixels.
        lines: Join consecutive points of a series.
        markers: Draw a dot at every point (``lines=False, markers=True`` is a scatter plot).

    Returns:
        The path written.
    """
    errors = errors or {}
    points = {
        name: [
            (float(x), float(y), float(errors[name][i]) if name in errors else 0.0)
            for i, (x, y) in enumerate(zip(xs, ys, strict=True))
            if math.isfinite(float(x)) and math.isfinite(float(y))
        ]
        for name, (xs, ys) in series.items()
    }
    every = [p for pts in points.values() for p in pts]
    if not every:
        raise ValueError("nothing to plot: every series is empty or non-finite")
    x0, x1, xt = _axis(min(p[0] for p in every), max(p[0] for p in every))
    y0, y1, yt = _axis(min(p[1] - p[2] for p in every), max(p[1] + p[2] for p in every))
    xstep = nice_ticks(x0, x1)[1] - nice_ticks(x0, x1)[0]
    ystep = nice_ticks(y0, y1)[1] - nice_ticks(y0, y1)[0]
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    small, big = _font(13), _font(16)
    legend_w = 28 + max(int(draw.textlength(name, font=small)) for name in points)
    left, right, top, bottom = 78, width - legend_w - 24, 40 if title else 16, height - 56
    if right - left < 50 or bottom - top < 50:
        raise ValueError(f"plot size {size} is too small")

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    for x in xt:
        draw.line([(px(x), top), (px(x), bottom)], fill=GRID)
        text = _label(x, xstep)
        draw.text((px(x), bottom + 6), text, fill=TEXT, font=small, anchor="ma")
    for y in yt:
        draw.line([(left, py(y)), (right, py(y))], fill=GRID)
        text = _label(y, ystep)
        draw.text((left - 6, py(y)), text, fill=TEXT, font=small, anchor="rm")
    draw.rectangle([left, top, right, bottom], outline=AXIS)
    if title:
        draw.text(((left + right) / 2, 12), title, fill=TEXT, font=big, anchor="ma")
    if xlabel:
        draw.text(((left + right) / 2, height - 8), xlabel, fill=TEXT, font=small, anchor="md")
    if ylabel:
        w = int(draw.textlength(ylabel, font=small)) + 4
        label = Image.new("RGB", (w, 18), "white")
        ImageDraw.Draw(label).text((2, 1), ylabel, fill=TEXT, font=small)
        rotated = label.rotate(90, expand=True)
        image.paste(rotated, (6, int((top + bottom) / 2 - w / 2)))

    for index, (name, pts) in enumerate(points.items()):
        color = PALETTE[index % len(PALETTE)]
        xy = [(px(x), py(y)) for x, y, _ in pts]
        if lines and len(xy) > 1:
            draw.line(xy, fill=color, width=2)
        for (_, y, err), (cx, cy) in zip(pts, xy, strict=True):
            if err > 0:
                draw.line([(cx, py(y - err)), (cx, py(y + err))], fill=color)
                for yy in (y - err, y + err):
                    draw.line([(cx - 4, py(yy)), (cx + 4, py(yy))], fill=color)
            if markers:
                draw.ellipse([cx - 3.5, cy - 3.5, cx + 3.5, cy + 3.5], fill=color)
        ly = top + 8 + 20 * index
        if lines:
            draw.line([(right + 12, ly + 7), (right + 28, ly + 7)], fill=color, width=3)
        else:
            draw.ellipse([right + 16, ly + 3, right + 24, ly + 11], fill=color)
        draw.text((right + 34, ly), name, fill=TEXT, font=small)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path
