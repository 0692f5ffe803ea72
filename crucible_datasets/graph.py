"""The stage graph as a picture: an SVG drawn by the package itself (no graphviz, nothing to install).

A pipeline is a chain, drawn top-down: the source (its files and format), each stage (its op,
arguments and kind), the sink (its path and format), and beside the source the dead-letter
folder when bad records go there. Before a run (``crucible plan --graph``) the boxes say what
will run; after one (``crucible report OUTPUT --graph``) each arrow carries the rows that passed
and each box its rows in and out and bad records, from the manifest's ``stages`` (or, for an
output written without them, the split's totals).

>>> svg = draw([Box("source", "data/ (jsonl)", ("2 files",)), Box("stage", "1. where", ("x > 2",)),
...             Box("sink", "out/ (parquet)")], ["10 rows", "4 rows"])
>>> import xml.etree.ElementTree as ET
>>> texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
>>> texts[:4], "4 rows" in texts
(['data/ (jsonl)', '2 files', '10 rows', '1. where'], True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from crucible_datasets.spec.pipeline_spec import PipelineSpec

FONT = 12
CHAR = 7.3  # the width of one character of a 12px monospace font, about
LINE = 16
PAD = 10
GAP = 44  # between two boxes: the arrow and its label
MAX_TEXT = 80
COLOURS = {  # fill, border
    "source": ("#e8f5e9", "#2e7d32"),
    "stage": ("#e3f2fd", "#1565c0"),
    "distributed": ("#fff3e0", "#e65100"),  # keyed and whole-stream stages: they regroup the rows
    "sink": ("#f3e5f5", "#6a1b9a"),
    "errors": ("#ffebee", "#c62828"),
}


@dataclass(frozen=True)
class Box:
    """One box: its ``role`` (a key of :data:`COLOURS`), a title, lines under it, and its bad records."""

    role: str
    title: str
    lines: tuple[str, ...] = ()
    bad: int | None = None

    def texts(self) -> list[str]:
        bad = [f"bad records: {self.bad:,}"] if self.bad else []
        return [_clip(t) for t in (self.title, *self.lines, *bad)]

    @property
    def height(self) -> int:
        return len(self.texts()) * LINE + PAD


def draw(boxes: Sequence[Box], flows: Sequence[str | None], beside: Box | None = None, note: str = "") -> str:
    """The SVG of ``boxes`` top-down; ``flows[i]`` labels the arrow from box ``i`` to box ``i + 1``;
    ``beside`` (the dead letters) stands right of the first box, its arrow labelled by its ``bad``."""
    width = max(len(t) for b in [*boxes, *([beside] if beside else [])] for t in b.texts()) * CHAR + 2 * PAD
    width = max(width, 160)
    label_room = max([len(f) for f in flows if f] + [0]) * CHAR + 2 * PAD
    side = (width + GAP + label_room) if beside is not None else 0
    left = PAD
    top = PAD + (LINE + PAD if note else 0)
    parts: list[str] = []
    if note:
        parts.append(_text(left, PAD + FONT, _clip(note, 2 * MAX_TEXT), bold=True))
    y = top
    for index, box in enumerate(boxes):
        parts += _box(left, y, width, box)
        if index == 0 and beside is not None:
            parts += _box(left + side, y, width, beside)
            arrow_y = y + box.height / 2
            parts.append(_arrow(left + width, arrow_y, left + side, arrow_y, dashed=True))
            if beside.bad is not None:
                parts.append(_text(left + width + PAD, arrow_y - 4, f"{beside.bad:,} bad", colour="#c62828"))
        y += box.height
        if index < len(boxes) - 1:
            x = left + width / 2
            parts.append(_arrow(x, y, x, y + GAP))
            flow = flows[index] if index < len(flows) else None
            if flow:
                parts.append(_text(x + PAD, y + GAP / 2 + FONT / 2, flow))
            y += GAP
    total_width = left + max(width + label_room, side + width) + PAD
    total_height = y + PAD
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width:.0f}" height="{total_height:.0f}" '
        f'viewBox="0 0 {total_width:.0f} {total_height:.0f}" font-family="monospace" font-size="{FONT}">'
    )
    marker = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>'
    )
    background = f'<rect width="{total_width:.0f}" height="{total_height:.0f}" fill="white"/>'
    return "\n".join([head, marker, background, *parts, "</svg>"]) + "\n"


def spec_graph(spec: PipelineSpec) -> str:
    """The graph of a checked spec, before it runs: what each box will do."""
    source = spec.data["source"]
    pipeline = spec.pipeline()
    files = pipeline.source.files
    nbytes = pipeline.source.total_bytes()
    details = [f"split {source.get('split', 'train')}"] + (
        [f"config {source['config']}"] if "config" in source else []
    )
    boxes = [
        Box(
            "source",
            f"source: {source['path']}",
            (f"{len(files)} file(s), {nbytes:,} bytes", ", ".join(details)),
        )
    ]
    own = spec.data.get("stages") or []
    made_by_source = pipeline.stages[: len(pipeline.stages) - len(own)]
    for stage in made_by_source:
        boxes.append(Box("stage", f"(by the source) {stage.name}", (stage.kind.value,)))
    for number, (stage, described) in enumerate(
        zip(pipeline.stages[len(made_by_source) :], own, strict=True), 1
    ):
        arguments = _arguments(described)
        role = "stage" if stage.kind.any_part else "distributed"
        boxes.append(
            Box(role, f"{number}. {described['op']}  [{stage.kind.value}]", (arguments,) if arguments else ())
        )
    boxes.append(_sink_box(spec.sink, None))
    return draw(boxes, [None] * len(boxes), _errors_box(source, spec.sink, None), note="plan (not run)")


def manifest_graph(entry: Mapping, output: str, split: str) -> str:
    """The graph of a written split from its manifest entry: rows in, out and bad per box (the
    entry's ``stages``); without them, the stages its ``spec`` names and the split's totals."""
    counts = entry.get("counts") or {}
    spec = entry.get("spec") or {}
    source = spec.get("source") or {}
    described = list(spec.get("stages") or [])
    bad = counts.get("rows_bad", 0)
    read = Box(
        "source", f"source: {entry.get('source', '?')}", (f"read {counts.get('rows_read', 0):,} rows",), bad
    )
    boxes, flows = [read], []
    recorded = entry.get("stages") or []
    middle = [s for s in recorded if s.get("kind") not in ("read", "write")]
    first_own = len(middle) - len(described)
    for index, stage in enumerate(middle):
        own = index - first_own
        op = described[own] if 0 <= own < len(described) else {}
        role = "stage" if stage.get("kind") in ("per_batch", "regrouping") else "distributed"
        rows = f"in {stage.get('rows_in', 0):,} -> out {stage.get('rows_out', 0):,}"
        name, kind = stage.get("name", "?"), stage.get("kind", "?")
        title = f"{index + 1}. {op.get('op', 'by the source')}: {name}  [{kind}]"
        lines = (_arguments(op), rows) if _arguments(op) else (rows,)
        boxes.append(Box(role, title, lines, stage.get("bad") or None))
        flows.append(f"{stage.get('rows_in', 0):,} rows")
    if not recorded:  # an output written before per-stage counts: the stages, without counts
        for number, stage in enumerate(described, 1):
            boxes.append(
                Box("stage", f"{number}. {stage.get('op', '?')}", ("(rows per stage not recorded)",))
            )
            flows.append(None)
        if described:
            flows[0] = f"{counts.get('rows_read', 0) - bad:,} rows"
    sink = {"path": output, "split": split, "format": entry.get("format", "?")}
    boxes.append(_sink_box(sink, entry))
    flows.append(f"{counts.get('rows_written', entry.get('rows', 0)):,} rows")
    errors = _errors_box(source, sink, bad)
    return draw(boxes, flows, errors, note=f"report of {output} (split {split})")


def _sink_box(sink: Mapping | None, entry: Mapping | None) -> Box:
    if not sink:
        return Box("sink", "sink: (none in the spec)")
    options = [
        f"{k} {sink[k]}" for k in ("split", "num_shards", "compression", "max_rows_per_shard") if k in sink
    ]
    lines = [f"{sink.get('format', 'parquet')}; " + ", ".join(options)]
    if entry is not None:
        c = entry.get("counts") or {}
        lines.append(f"wrote {entry.get('rows', 0):,} rows in {len(entry.get('shards') or [])} shard(s)")
        lines.append(f"filtered {c.get('rows_filtered', 0):,}, added {c.get('rows_added', 0):,}")
    return Box("sink", f"sink: {sink.get('path', '?')}", tuple(lines))


def _errors_box(source: Mapping, sink: Mapping | None, bad: int | None) -> Box | None:
    """The dead-letter folder's box, when the policy is dead_letter (or a run counted bad records)."""
    policy = source.get("on_error", "raise")
    if policy != "dead_letter" and not bad:
        return None
    if policy == "dead_letter":
        default = f"{(sink or {}).get('path', 'OUTPUT')}/_errors/{(sink or {}).get('split', 'SPLIT')}"
        return Box("errors", "dead letters", (source.get("errors_path") or default,), bad)
    return Box(
        "errors", f"bad records ({policy})", ("counted, not kept" if policy == "skip" else policy,), bad
    )


def _arguments(described: Mapping) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in described.items() if k != "op")


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` shortened in its middle to ``limit`` characters (a path keeps both ends)."""
    if len(text) <= limit:
        return text
    head = (limit - 3) // 2
    return text[:head] + "..." + text[len(text) - (limit - 3 - head) :]


def _box(x: float, y: float, width: float, box: Box) -> list[str]:
    fill, border = COLOURS.get(box.role, COLOURS["stage"])
    out = [
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{width:.0f}" height="{box.height}" rx="6" '
        f'fill="{fill}" stroke="{border}" stroke-width="1.5"/>'
    ]
    for i, text in enumerate(box.texts()):
        colour = "#c62828" if text.startswith("bad records:") else ("#111" if i == 0 else "#333")
        out.append(_text(x + PAD, y + PAD / 2 + FONT + i * LINE, text, bold=i == 0, colour=colour))
    return out


def _text(x: float, y: float, text: str, bold: bool = False, colour: str = "#333") -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.0f}" y="{y:.0f}" fill={quoteattr(colour)}{weight}>{escape(text)}</text>'


def _arrow(x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return (
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555" stroke-width="1.5"'
        f'{dash} marker-end="url(#arrow)"/>'
    )
