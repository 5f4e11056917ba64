"""The report's figures, drawn with matplotlib (object API, Agg and SVG backends; no pyplot).

Every figure is returned as SVG text (inlined in the HTML page) and PNG bytes. Shapes the
tests count carry a stable SVG id (matplotlib's ``gid``), one per thing drawn:

- ``power_<phase>_it`` / ``_overhead`` / ``_headroom`` / ``_allocation``: one bar per phase;
- ``racks_<hall>_<cluster>_<pool>`` (or ``racks_<hall>_empty``): a group holding one rack
  shape per rack position of that pool (or per empty position); ``sus_<hall>_<cluster>_<pool>``:
  one outline per scalable unit of a GPU pool (per row segment when an SU wraps a row);
  ``cp_<hall>_<cluster>``: a cluster's control-plane hosts (no rack position in the model);
- ``fabric_<cluster>_<tier>``: one bar per fabric tier a cluster has;
- ``grid_carbon_<zone>``, ``grid_renewable_<zone>``, ``threshold_carbon``, ``threshold_renewable``;
- ``quota_<cluster>_<pool>_<tenant>`` (or ``_unallocated``): one per tenant quota of a GPU pool.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before anything draws: no display, no GUI toolkit

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure, SubplotParams
from matplotlib.patches import Patch, Rectangle

from gigafactory.planning.plan import SitePlan
from gigafactory.policy.config import PolicyConfig
from gigafactory.site import catalog
from gigafactory.site.model import Hall, Site

# Rack positions per row of a hall's floor map (fewer when the hall is smaller).
FLOOR_COLUMNS = 32
CELL_INCHES = 0.3
# Widest rack grid of a floor map, inches: cells shrink below CELL_INCHES in very large halls.
FLOOR_MAX_GRID_INCHES = 12.0
# Control-plane rack beside the grid, and its vertical pitch, inches.
CP_RACK_INCHES = 0.25
CP_PITCH_INCHES = 0.32
PNG_DPI = 110
EMPTY_COLOUR = "#ffffff"
CONTROL_PLANE_COLOUR = "#222222"
# Colours with meaning across figures.
IT_COLOUR = "#4c72b0"
OVERHEAD_COLOUR = "#dd8452"
HEADROOM_COLOUR = "#55a868"
OVER_COLOUR = "#c44e52"
SITE_ZONE_COLOUR = "#c44e52"
OTHER_ZONE_COLOUR = "#8c8c8c"
TIER_COLOURS = {"leaf": "#4c72b0", "spine": "#55a868", "core": "#8172b3"}
UNALLOCATED_COLOUR = "#e5e5e5"


_AUTO_ID = re.compile(r'\bid="([A-Za-z][A-Za-z0-9.]*_\d+)"')


@dataclass(frozen=True, slots=True)
class RenderedFigure:
    """One figure of the report in both formats."""

    name: str
    """File stem (``<name>.svg``, ``<name>.png``) and anchor in the page."""
    title: str
    caption: str
    svg: str
    """The SVG document without its XML prolog, ready to inline in HTML."""
    png: bytes


@contextmanager
def _style(salt: str) -> Iterator[None]:
    """Text stays text in SVG; ids are salted per figure so inlined figures never share one."""
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": salt,
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def _render(fig: Figure, name: str, title: str, caption: str) -> RenderedFigure:
    svg_buf = io.StringIO()
    fig.savefig(svg_buf, format="svg", metadata={"Date": None})
    png_buf = io.BytesIO()
    # Light compression: PNG encoding is a tenth of the report's time at the default level 6.
    fig.savefig(
        png_buf, format="png", dpi=PNG_DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 3}
    )
    svg = svg_buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE: the page inlines it
    # matplotlib numbers its own group ids per figure (figure_1, patch_1, ...): prefix them so
    # ids stay unique on a page holding several figures. Our gids have two underscores or more.
    svg = _AUTO_ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    return RenderedFigure(name=name, title=title, caption=caption, svg=svg, png=png_buf.getvalue())


def _figure(
    width: float,
    height: float,
    *,
    left: float,
    bottom: float,
    top: float = 0.4,
    right: float = 0.2,
    gap: float = 0.0,
) -> Figure:
    """A figure with fixed margins in inches (tick labels, titles): no layout engine, which
    would cost another pass over every text of the figure."""
    return Figure(
        figsize=(width, height),
        subplotpars=SubplotParams(
            left=left / width,
            right=1 - right / width,
            bottom=bottom / height,
            top=1 - top / height,
            wspace=gap / ((width - left - right - gap) / 2) if gap else None,
        ),
    )


# ---------------------------------------------------------------------------------------
# Power budget per phase
# ---------------------------------------------------------------------------------------


def power_budget(site: Site, plan: SitePlan) -> RenderedFigure:
    """One stacked bar per phase: IT load, PUE overhead and headroom against the allocation."""
    name = "power-budget"
    with _style(name):
        phases = site.power.phases
        fig = _figure(max(5.0, 1.3 * len(phases) + 3), 4.2, left=0.65, bottom=0.6)
        ax = fig.add_subplot()
        it, facility = plan.it_mw, plan.facility_mw
        overhead = facility - it
        top = max([facility, *(p.mw for p in phases)])
        for i, phase in enumerate(phases):
            ax.bar(i, it, 0.6, color=IT_COLOUR, gid=f"power_{phase.name}_it")
            ax.bar(i, overhead, 0.6, bottom=it, color=OVERHEAD_COLOUR, gid=f"power_{phase.name}_overhead")
            headroom = phase.mw - facility
            if headroom >= 0:
                ax.bar(
                    i,
                    headroom,
                    0.6,
                    bottom=facility,
                    color="none",
                    edgecolor=HEADROOM_COLOUR,
                    hatch="//",
                    gid=f"power_{phase.name}_headroom",
                )
                label, colour = f"headroom {headroom:,.1f} MW", HEADROOM_COLOUR
            else:
                label, colour = f"over by {-headroom:,.1f} MW", OVER_COLOUR
            ax.hlines(
                phase.mw, i - 0.4, i + 0.4, colors="black", linewidth=2, gid=f"power_{phase.name}_allocation"
            )
            ax.annotate(
                f"{phase.mw:,.0f} MW allocated\n{label}",
                (i, max(phase.mw, facility)),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                color=colour,
            )
        ax.set_xticks(
            range(len(phases)),
            [f"{p.name}\n(active)" if p.name == site.power.active_phase else p.name for p in phases],
        )
        ax.set_ylim(0, top * 1.22)
        ax.set_ylabel("MW")
        ax.set_title(f"Facility power {facility:,.1f} MW = IT {it:,.1f} MW x PUE {plan.design_pue:g}")
        ax.legend(
            handles=[
                Patch(color=IT_COLOUR, label=f"IT load {it:,.1f} MW"),
                Patch(color=OVERHEAD_COLOUR, label=f"cooling and conversion (PUE) {overhead:,.1f} MW"),
                Patch(facecolor="none", edgecolor=HEADROOM_COLOUR, hatch="//", label="headroom"),
                Patch(color="black", label="grid allocation"),
            ],
            loc="upper left",
            fontsize=8,
            frameon=False,
        )
        return _render(
            fig,
            name,
            "Power budget per phase",
            f"The planned load (active phase {site.power.active_phase}) against each phase's grid allocation.",
        )


# ---------------------------------------------------------------------------------------
# Floor map per hall
# ---------------------------------------------------------------------------------------


def pool_colours(site: Site) -> dict[tuple[str, str], str]:
    """One colour per (cluster, pool): a hue per cluster, lighter for each further pool."""
    palette = colormaps["tab10"]
    out: dict[tuple[str, str], str] = {}
    for ci, cluster in enumerate(site.clusters):
        r, g, b = to_rgb(palette(ci % 10))
        for pi, pool in enumerate(cluster.pools):
            mix = min(0.7, 0.28 * pi)  # blend towards white
            out[(cluster.name, pool.name)] = to_hex((r + (1 - r) * mix, g + (1 - g) * mix, b + (1 - b) * mix))
    return out


def _cell(position: int, columns: int) -> tuple[int, int]:
    """(column, row) of a 1-based rack position; rows run top to bottom."""
    return (position - 1) % columns, (position - 1) // columns


def floor_columns(rack_positions: int) -> int:
    """Positions per row: FLOOR_COLUMNS, more in very large halls so the map stays roughly
    twice as wide as high (a multiple of 8, the racks of an NVL72 scalable unit)."""
    wide = math.ceil(math.isqrt(2 * rack_positions) / 8) * 8
    return min(rack_positions, max(FLOOR_COLUMNS, wide))


def floor_map(site: Site, hall: Hall, colours: dict[tuple[str, str], str]) -> RenderedFigure:
    """Every rack position of one hall, coloured by cluster and pool, with SU outlines."""
    name = f"floor-{hall.name}"
    with _style(name):
        columns = floor_columns(hall.rack_positions)
        rows = math.ceil(hall.rack_positions / columns)
        owner: dict[int, tuple[str, str]] = {}
        pools = [(c, p) for c in site.clusters for p in c.pools if p.hall == hall.name]
        for c, p in pools:
            for pos in range(p.first_rack_position, min(p.last_rack_position, hall.rack_positions) + 1):
                owner[pos] = (c.name, p.name)
        control_planes = [c for c in site.clusters if c.control_plane_hall == hall.name]

        # Fixed geometry in inches (no layout engine: cheaper for many halls). Data units are
        # rack positions: one unit is `cell` inches.
        cell = min(CELL_INCHES, FLOOR_MAX_GRID_INCHES / columns)
        left, right = 0.6, (2.4 if control_planes else 0.15)  # row labels; control planes
        grid_h = max(rows * cell, len(control_planes) * CP_PITCH_INCHES) + 0.1
        grid_w = columns * cell + left + right
        legend_rows = math.ceil((len(pools) + 3) / 4)
        top, bottom = 0.45, 0.25 + 0.2 * legend_rows  # title; legend
        fig = Figure(figsize=(max(grid_w, 6.0), grid_h + top + bottom))
        fig_w, fig_h = fig.get_size_inches()
        ax = fig.add_axes((0, bottom / fig_h, grid_w / fig_w, grid_h / fig_h))
        ax.set_xlim(-left / cell, columns + right / cell)
        ax.set_ylim(grid_h / cell - 0.05 / cell, -0.05 / cell)  # row 0 at the top
        ax.axis("off")
        # One collection per owner (a pool, or the empty positions): one draw call each, and a
        # group per owner in the SVG holding one rack shape per position.
        groups: dict[tuple[str, str] | None, list[Rectangle]] = {}
        for pos in range(1, hall.rack_positions + 1):
            col, row = _cell(pos, columns)
            groups.setdefault(owner.get(pos), []).append(Rectangle((col + 0.08, row + 0.1), 0.84, 0.8))
        line = min(0.6, 72 * cell * 0.05)  # points; thinner when cells are small
        for who, racks in groups.items():
            ax.add_collection(
                PatchCollection(
                    racks,
                    facecolors=colours[who] if who else EMPTY_COLOUR,
                    edgecolors="#bbbbbb" if who is None else "none",
                    linewidths=line,
                    gid=f"racks_{hall.name}_{'_'.join(who) if who else 'empty'}",
                ),
                autolim=False,
            )
        # Scalable-unit outlines of GPU pools, split where an SU wraps onto the next row.
        for c, p in pools:
            if not p.is_gpu:
                continue
            segments: dict[tuple[str, int], list[int]] = {}
            for pos in range(p.first_rack_position, min(p.last_rack_position, hall.rack_positions) + 1):
                segments.setdefault((p.su_name(pos), _cell(pos, columns)[1]), []).append(pos)
            outlines = [
                Rectangle((_cell(members[0], columns)[0] + 0.02, row + 0.04), len(members) - 0.04, 0.92)
                for (_, row), members in segments.items()
            ]
            ax.add_collection(
                PatchCollection(
                    outlines,
                    facecolors="none",
                    edgecolors="black",
                    linewidths=line * 5 / 3,
                    gid=f"sus_{hall.name}_{c.name}_{p.name}",
                ),
                autolim=False,
            )
        # Control-plane hosts have no rack position in the model: a rack beside the grid each.
        side, pitch = CP_RACK_INCHES / cell, CP_PITCH_INCHES / cell
        for i, c in enumerate(control_planes):
            x, y = columns + 0.2 / cell, i * pitch
            ax.add_patch(
                Rectangle(
                    (x, y),
                    side,
                    side,
                    facecolor=CONTROL_PLANE_COLOUR,
                    edgecolor="white",
                    hatch="xx",
                    gid=f"cp_{hall.name}_{c.name}",
                )
            )
            ax.text(
                x + side * 1.3,
                y + side / 2,
                f"{c.name} control plane ({c.control_plane_count})",
                va="center",
                fontsize=7,
            )
        label_every = math.ceil(0.15 / cell)  # at least 0.15 in between row labels
        for row in range(0, rows, label_every):
            ax.text(
                -0.1 / cell,
                row + 0.5,
                f"r{row * columns + 1:04d}",
                ha="right",
                va="center",
                fontsize=6,
                color="#555555",
            )
        used = len(owner)
        handles = [
            Patch(
                color=colours[(c.name, p.name)],
                label=f"{c.name}/{p.name} ({p.sku}, {p.rack_count} racks)",
            )
            for c, p in pools
        ]
        handles.append(Patch(facecolor=EMPTY_COLOUR, edgecolor="#bbbbbb", label="empty position"))
        handles.append(Patch(facecolor="none", edgecolor="black", label="scalable unit (GPU pools)"))
        if control_planes:
            handles.append(Patch(facecolor=CONTROL_PLANE_COLOUR, hatch="xx", label="control-plane hosts"))
        fig.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, (bottom - 0.05) / fig_h),
            ncols=min(4, len(handles)),
            fontsize=7,
            frameon=False,
        )
        fig.suptitle(
            f"{hall.name}: {used} of {hall.rack_positions} rack positions used, {hall.cooling} cooled, "
            f"{hall.max_rack_kw:g} kW per rack",
            y=1 - 0.12 / fig_h,
            va="top",
            fontsize=9,
        )
        return _render(
            fig,
            name,
            f"Floor map: {hall.name}",
            f"Rack positions 1-{hall.rack_positions}, {columns} per row, left to right and top to bottom.",
        )


# ---------------------------------------------------------------------------------------
# Fabric per cluster
# ---------------------------------------------------------------------------------------


def fabric(plan: SitePlan) -> RenderedFigure:
    """Leaf, spine and core switch counts per cluster, one bar per tier the fabric has."""
    name = "fabric"
    with _style(name):
        clusters = plan.clusters
        fig = _figure(max(5.0, 1.4 * len(clusters) + 2), 4.0, left=0.7, bottom=0.75)
        ax = fig.add_subplot()
        width = 0.26
        for i, c in enumerate(clusters):
            f = c.fabric
            tiers = (("leaf", f.leaf), ("spine", f.spine), ("core", f.core))[: f.tiers]
            for j, (tier, count) in enumerate(tiers):
                x = i + (j - 1) * width
                ax.bar(x, count, width * 0.95, color=TIER_COLOURS[tier], gid=f"fabric_{c.name}_{tier}")
                ax.annotate(
                    f"{count:,}",
                    (x, count),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
        ax.set_xticks(
            range(len(clusters)),
            [
                f"{c.name}\n{c.fabric.tiers} tiers, {c.fabric.switch}\n{c.fabric.cables:,} cables"
                for c in clusters
            ],
            fontsize=7,
        )
        ax.set_ylabel("switches")
        ax.margins(y=0.15)
        ax.legend(
            handles=[Patch(color=colour, label=tier) for tier, colour in TIER_COLOURS.items()],
            loc="upper right",
            fontsize=8,
            frameon=False,
        )
        ax.set_title("Compute fabric per cluster (non-blocking fat tree, sized for whole SUs)")
        return _render(
            fig,
            name,
            "Compute fabric per cluster",
            "Switches per tier and fabric cables; a cluster's GPU NICs form one plane.",
        )


# ---------------------------------------------------------------------------------------
# Grid carbon and renewable share against the catalog
# ---------------------------------------------------------------------------------------


def grid(site: Site, plan: SitePlan, config: PolicyConfig) -> RenderedFigure:
    """Every catalog zone's carbon intensity and renewable share, the site's zone highlighted,
    with the policy thresholds."""
    name = "grid"
    with _style(name):
        year = site.grid.data_year
        rows: list[tuple[str, float, float]] = []
        for zone in catalog.zones().values():
            _, carbon = zone.carbon(year if year in zone.carbon_g_per_kwh else None)
            _, share = zone.renewable(year if year in zone.renewable_share else None)
            rows.append((zone.id, carbon, share))
        rows.sort(key=lambda r: (r[1], r[0]), reverse=True)  # cleanest at the top
        carbon_rule = config.rule("region-grid-carbon-max")
        share_rule = config.rule("region-renewable-share-min")
        max_carbon = carbon_rule.number("max_g_per_kwh")
        min_share = share_rule.number("min_share")

        fig = _figure(9.0, max(3.5, 0.22 * len(rows) + 1.4), left=1.15, bottom=0.5, top=0.65, gap=0.3)
        left, right = fig.subplots(1, 2, sharey=True)
        assert isinstance(left, Axes) and isinstance(right, Axes)
        ys = list(range(len(rows)))
        colours = [SITE_ZONE_COLOUR if r[0] == plan.zone else OTHER_ZONE_COLOUR for r in rows]
        carbon_bars = left.barh(ys, [r[1] for r in rows], color=colours)
        share_bars = right.barh(ys, [r[2] * 100 for r in rows], color=colours)
        for (zone_id, _, _), cb, sb in zip(rows, carbon_bars, share_bars, strict=True):
            cb.set_gid(f"grid_carbon_{zone_id}")
            sb.set_gid(f"grid_renewable_{zone_id}")
        left.axvline(max_carbon, color="black", linestyle="--", gid="threshold_carbon")
        left.text(max_carbon, len(rows) - 0.3, f" max {max_carbon:g} ({carbon_rule.level})", fontsize=7)
        right.axvline(min_share * 100, color="black", linestyle="--", gid="threshold_renewable")
        right.text(
            min_share * 100,
            len(rows) - 0.3,
            f"min {min_share:.0%} ({share_rule.level}) ",
            fontsize=7,
            ha="right",
        )
        left.set_yticks(ys, [f"{r[0]}{'  (site)' if r[0] == plan.zone else ''}" for r in rows], fontsize=7)
        left.set_xlabel(f"g CO2eq/kWh, life cycle ({year})")
        right.set_xlabel(f"renewable share, % ({year} where published)")
        right.set_xlim(0, 105)
        left.set_ylim(-0.6, len(rows) + 0.2)
        left.set_title("Carbon intensity", fontsize=9)
        right.set_title("Renewable share", fontsize=9)
        fig.suptitle(
            f"Site zone {plan.zone}: {plan.carbon_g_per_kwh:g} g CO2eq/kWh, {plan.renewable_share:.0%} renewable",
            fontsize=10,
        )
        return _render(
            fig,
            name,
            "Grid carbon and renewable share",
            "Every zone of the grid catalog (Electricity Maps yearly data), the site's zone in red, "
            "with the policy thresholds as dashed lines.",
        )


# ---------------------------------------------------------------------------------------
# Tenant quotas per GPU pool
# ---------------------------------------------------------------------------------------


def tenant_quotas(site: Site) -> RenderedFigure:
    """Each GPU pool as 100 %: every tenant's quota share, and what is left unallocated."""
    name = "tenant-quotas"
    with _style(name):
        pools = [(c, p) for c in site.clusters for p in c.gpu_pools]
        fig = _figure(8.0, max(2.2, 0.45 * len(pools) + 1.4), left=1.0, bottom=0.5)
        ax = fig.add_subplot()
        palette = colormaps["tab20"]
        tenant_colour = {t.name: to_hex(palette(i % 20)) for i, t in enumerate(site.tenants)}
        for y, (c, p) in enumerate(pools):
            left, promised = 0.0, 0
            for t in site.tenants:
                if t.cluster != c.name:
                    continue
                gpus = sum(q.gpus for q in t.quotas if q.pool == p.name)
                if not any(q.pool == p.name for q in t.quotas):
                    continue
                share = 100 * gpus / p.gpus if p.gpus else 0.0
                ax.barh(
                    y,
                    share,
                    left=left,
                    color=tenant_colour[t.name],
                    edgecolor="white",
                    gid=f"quota_{c.name}_{p.name}_{t.name}",
                )
                if share >= 12:
                    ax.text(
                        left + share / 2, y, f"{t.name}\n{gpus:,} GPUs", ha="center", va="center", fontsize=7
                    )
                left += share
                promised += gpus
            if left < 100:
                ax.barh(
                    y,
                    100 - left,
                    left=left,
                    color=UNALLOCATED_COLOUR,
                    gid=f"quota_{c.name}_{p.name}_unallocated",
                )
                if 100 - left >= 12:
                    free = p.gpus - promised
                    ax.text(
                        left + (100 - left) / 2,
                        y,
                        f"unallocated\n{free:,} GPUs",
                        ha="center",
                        va="center",
                        fontsize=7,
                    )
        ax.axvline(100, color=OVER_COLOUR, linewidth=1)
        widest = max(
            [100.0, *(bar.get_x() + bar.get_width() for bar in ax.patches if isinstance(bar, Rectangle))]
        )
        ax.set_yticks(
            range(len(pools)), [f"{c.name}/{p.name}\n{p.gpus:,} GPUs" for c, p in pools], fontsize=7
        )
        ax.invert_yaxis()
        ax.set_xlabel("% of the pool's GPUs promised to tenants")
        ax.set_xlim(0, widest + 5)
        ax.set_title("Tenant quota share of each GPU pool")
        return _render(
            fig,
            name,
            "Tenant quotas per GPU pool",
            "Kueue quotas of each tenant as a share of the pool's GPUs; beyond the red line is over-promised.",
        )


def all_figures(site: Site, plan: SitePlan, config: PolicyConfig) -> list[RenderedFigure]:
    """Every figure of the report, in page order."""
    colours = pool_colours(site)
    return [
        power_budget(site, plan),
        *(floor_map(site, hall, colours) for hall in site.halls),
        fabric(plan),
        grid(site, plan, config),
        tenant_quotas(site),
    ]
