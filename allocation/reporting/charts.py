"""The report's charts as geometry: where each bar, point, grid line and label goes.

Pure functions of the figures, in SVG user units (y grows downwards); the template
`templates/charts.html.j2` draws what they return as inline SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from allocation.reporting.formats import clipped, thousands

LINES_COLOUR: Final = "#2563eb"
UNITS_COLOUR: Final = "#d97706"
SHORT_COLOUR: Final = "#dc2626"
REJECT_COLOUR: Final = "#7c3aed"
PROMISED_COLOUR: Final = "#0f766e"
FREE_COLOUR: Final = "#99d5cc"

STOCK_WEEKS: Final = 12
"""Weeks of eta the stock chart shows one by one (after stock in hand); later ones share a bar."""


# ---------------------------------------------------------------------------------------------
# Pieces every chart uses
# ---------------------------------------------------------------------------------------------


def nice_max(value: float) -> float:
    """Round up to the next 1, 2, 2.5 or 5 x 10^k, for an axis (1 when there is nothing)."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 < value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if magnitude * step >= value:
            return magnitude * step
    return magnitude * 10  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class LegendKey:
    """One legend entry: a colour swatch at (x, y - 9) and its label beside it."""

    x: float
    y: int
    label: str
    colour: str


def legend(entries: Sequence[tuple[str, str]], x: float, y: int) -> tuple[LegendKey, ...]:
    """Legend entries `(label, colour)` in a row from x, each as wide as its label needs."""
    keys = []
    for label, colour in entries:
        keys.append(LegendKey(x, y, label, colour))
        x += 30 + 7.2 * len(label)
    return tuple(keys)


@dataclass(frozen=True)
class GridLine:
    """A horizontal grid line at height y, labelled on the axis."""

    y: float
    label: str


@dataclass(frozen=True)
class AxisLabel:
    """A label under the plot, centred on x."""

    x: float
    label: str


# ---------------------------------------------------------------------------------------------
# Fill rate per run (lines)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRates:
    """One run's fill rates, as the chart takes them (None when nothing lacked stock)."""

    run_id: str
    run_date: date
    lines: float | None
    units: float | None


@dataclass(frozen=True)
class RatePoint:
    """One run's rate as a point; the newest run's point is larger and ringed."""

    x: float
    y: float
    run_id: str
    run_date: date
    rate: float
    newest: bool

    @property
    def radius(self) -> float:
        """The dot's radius: 5 for the newest run, else 3.5."""
        return 5 if self.newest else 3.5


@dataclass(frozen=True)
class RateSeries:
    """One rate over the runs: `lines` (lines filled in full) or `units`."""

    name: str
    colour: str
    points: tuple[RatePoint, ...]


@dataclass(frozen=True)
class FillRateChart:
    """Line and unit fill rate per run, 0-100 %, oldest run left."""

    width: int
    height: int
    left: int
    right: int
    grid: tuple[GridLine, ...]
    dates: tuple[AxisLabel, ...]
    dates_y: int
    series: tuple[RateSeries, ...]
    legend: tuple[LegendKey, ...]


def fill_rate_chart(runs: Sequence[RunRates]) -> FillRateChart | None:
    """The fill rate chart of these runs, oldest first (None when there is no run)."""
    if not runs:
        return None
    width, height = 1000, 260
    left, right, top, bottom = 48, 32, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(runs)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(rate: float) -> float:
        return top + plot_h * (1 - rate)

    grid = tuple(GridLine(y(tick), f"{tick:.0%}") for tick in (0, 0.25, 0.5, 0.75, 1))
    # At most about ten dates, counted back from the newest run so that it is always labelled.
    step = max(1, -(-n // 10))
    dates = tuple(
        AxisLabel(x(i), format(run.run_date, "%d %b"))
        for i, run in enumerate(runs)
        if (n - 1 - i) % step == 0
    )
    series = []
    for name, colour in (("lines", LINES_COLOUR), ("units", UNITS_COLOUR)):
        points = []
        for i, run in enumerate(runs):
            rate = run.lines if name == "lines" else run.units
            if rate is not None:
                points.append(RatePoint(x(i), y(rate), run.run_id, run.run_date, rate, i == n - 1))
        series.append(RateSeries(name, colour, tuple(points)))
    return FillRateChart(
        width=width,
        height=height,
        left=left,
        right=right,
        grid=grid,
        dates=dates,
        dates_y=height - bottom + 18,
        series=tuple(series),
        legend=legend([("lines in full", LINES_COLOUR), ("units", UNITS_COLOUR)], left, 14),
    )


# ---------------------------------------------------------------------------------------------
# Horizontal bars (short SKUs, rejects by check)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label (clipped to fit, in full on hover) and its value."""

    label: str
    shown_label: str
    value: int
    top: int
    length: float
    text_y: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per label, in the order given; each marked `data-<data_name>`."""

    chart_id: str
    data_name: str
    unit: str
    colour: str
    width: int
    height: int
    label_w: int
    bar_height: int
    bars: tuple[Bar, ...]


def bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    colour: str,
    chart_id: str,
    data_name: str,
    unit: str,
    width: int = 500,
    label_w: int = 150,
) -> BarChart:
    """Bars `(label, value)` scaled to a round maximum; labels clipped to `label_w`."""
    row_h, value_w = 28, 56
    clip = max(8, int(label_w / 7.4))  # characters of about 7.4 units at the label's size
    scale = nice_max(max((v for _, v in bars), default=0))
    plot_w = width - label_w - value_w
    return BarChart(
        chart_id=chart_id,
        data_name=data_name,
        unit=unit,
        colour=colour,
        width=width,
        height=row_h * len(bars) + 8,
        label_w=label_w,
        bar_height=row_h - 8,
        bars=tuple(
            Bar(
                label=label,
                shown_label=clipped(label, clip),
                value=value,
                top=4 + i * row_h + 4,
                length=plot_w * value / scale,
                text_y=4 + i * row_h + row_h / 2 + 4,
            )
            for i, (label, value) in enumerate(bars)
        ),
    )


# ---------------------------------------------------------------------------------------------
# Stacked columns (stock in hand and inbound by week of eta)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """One column's figures: units promised to lines (drawn at the bottom) and units free."""

    key: str
    label: str
    promised: int
    free: int


def stock_stacks(weeks: Sequence[tuple[date | None, int, int]]) -> list[Stack]:
    """Columns from `(week, promised, free)` rows, stock in hand (week None) first.

    The first STOCK_WEEKS + 1 rows get a column each; any later weeks are summed as "Later".
    """
    shown = [
        Stack("in-stock", "In stock", promised, free)
        if week is None
        else Stack(week.isoformat(), f"{week.day} {week:%b}", promised, free)
        for week, promised, free in weeks[: STOCK_WEEKS + 1]
    ]
    later = weeks[STOCK_WEEKS + 1 :]
    if later:
        shown.append(
            Stack("later", "Later", sum(p for _, p, _ in later), sum(f for *_, f in later))
        )
    return shown


@dataclass(frozen=True)
class Column:
    """One stacked column: the promised part from `base` up, the free part on top of it."""

    stack: Stack
    x: float
    width: float
    promised_height: float
    free_height: float

    @property
    def centre(self) -> float:
        """The column's centre, where its total and its label sit."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class StackedChart:
    """Vertical stacked columns on a common scale; crowded charts slant their labels."""

    width: int
    height: int
    left: int
    right: int
    base: int
    grid: tuple[GridLine, ...]
    columns: tuple[Column, ...]
    slanted_labels: bool
    legend: tuple[LegendKey, ...]
    promised_colour: str = PROMISED_COLOUR
    free_colour: str = FREE_COLOUR


def stacked_chart(stacks: Sequence[Stack]) -> StackedChart:
    """Columns for the stacks, in the order given, under a round maximum split in quarters."""
    crowded = len(stacks) > 6
    width, height = 520, 300 if crowded else 280
    left, right, top, bottom = 48, 8, 34, 68 if crowded else 48
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = nice_max(max((s.promised + s.free for s in stacks), default=0))
    slot = plot_w / max(1, len(stacks))
    bar_w = min(56.0, slot * 0.7)
    grid = tuple(
        GridLine(top + plot_h * (1 - tick / 4), thousands(round(scale * tick / 4)))
        for tick in range(5)
    )
    columns = tuple(
        Column(
            stack=s,
            x=left + slot * i + (slot - bar_w) / 2,
            width=bar_w,
            promised_height=plot_h * s.promised / scale,
            free_height=plot_h * s.free / scale,
        )
        for i, s in enumerate(stacks)
    )
    return StackedChart(
        width=width,
        height=height,
        left=left,
        right=right,
        base=top + plot_h,
        grid=grid,
        columns=columns,
        slanted_labels=crowded,
        legend=legend(
            [("promised (picked or reserved)", PROMISED_COLOUR), ("free", FREE_COLOUR)], left, 14
        ),
    )
