"""What both front ends print, decided once: durations, sizes, card rows, export and eval summaries.

Plain text, no Qt and no terminal codes: the CLI prints these lines, the GUI puts them in labels
(and escapes them for its HTML card view). Each front end keeps only its layout: columns on a
terminal, table rows in a browser widget.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the hints: the CLI imports this module before it needs torch
    from studio.core.store import CatalogEntry, ModelInfo

Row = tuple[str, str]


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def clock(seconds: float | None) -> str:
    """A countdown as a clock shows it, ``4:05`` or ``1:04:05``; ``—`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- sizes and dates -------------------------------------------------------------------------------

def size(size_bytes: int) -> str:
    """``1.2 GB``, ``12.3 MB``, ``4.0 kB``, ``512 B``: the largest unit the size reaches."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def megabytes(size_bytes: int) -> str:
    """``12.3 MB`` always (model listings and export summaries compare sizes in one unit)."""
    return f"{size_bytes / 1e6:.1f} MB"


def created(when: str) -> str:
    """A card's ISO creation time in local time, ``2026-01-31 14:05``; the text itself when not ISO."""
    try:
        parsed = _dt.datetime.fromisoformat(when)
    except (TypeError, ValueError):
        return when or "—"
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M")


# -- model cards -----------------------------------------------------------------------------------

def domains_pair(info: ModelInfo) -> str:
    """``photo ↔ painting``."""
    return f"{info.domains.get('A', 'A')} ↔ {info.domains.get('B', 'B')}"


def domains_column(info: ModelInfo) -> str:
    """A listing's domains: the pair for translators, the one domain for VAE and flow models."""
    return info.domains.get("A", "—") if info.kind in ("vae", "ae", "flow", "dcgan", "pixelcnn") else domains_pair(info)


def network_text(spec: Mapping[str, Any]) -> str:
    """A card's network entry as ``resnet_generator(ngf=64, n_blocks=9)``."""
    return f"{spec['arch']}({', '.join(f'{k}={v}' for k, v in spec['params'].items())})"


def list_rows(models: list[ModelInfo]) -> list[tuple[str, ...]]:
    """``studio models list``: a header row and one row per model."""
    rows: list[tuple[str, ...]] = [("NAME", "KIND", "DOMAINS", "DIRECTIONS", "SIZE", "WHERE")]
    for m in models:
        rows.append((m.name, m.kind, domains_pair(m), ",".join(m.directions()) or "-", megabytes(m.size_bytes),
                     "built-in" if m.builtin else "user"))
    return rows


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as left-aligned columns two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


KIND_LABELS = {"cyclegan": "CycleGAN", "cut": "CUT", "pix2pix": "pix2pix", "vae": "VAE", "ae": "Autoencoder",
               "flow": "Flow", "dcgan": "DCGAN",
               "pixelcnn": "PixelCNN", "distill": "fast copy", "spade": "SPADE"}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def fast_copies(models: list[ModelInfo], teacher: str, direction: str) -> list[ModelInfo]:
    """The fast copies of ``teacher``'s ``direction`` among ``models``, the most faithful first."""
    copies = [m for m in models if m.copy_of() == (teacher, direction)]
    return sorted(copies, key=lambda m: -float(m.card.get("metrics", {}).get("ssim_to_teacher") or 0.0))


def fast_copy_label(info: ModelInfo) -> str:
    """A fast copy's figures in a few words: "fast copy · 12× faster · SSIM 0.93 to the original"."""
    metrics = info.card.get("metrics", {})
    parts = ["fast copy"]
    if metrics.get("speedup"):
        parts.append(f"{float(metrics['speedup']):.0f}× faster" if metrics["speedup"] >= 10
                     else f"{float(metrics['speedup']):.1f}× faster")
    if metrics.get("ssim_to_teacher") is not None:
        parts.append(f"SSIM {float(metrics['ssim_to_teacher']):.2f} to the original")
    return " · ".join(parts)


@dataclass(frozen=True)
class CardView:
    """A model card as both front ends show it: ``studio models show`` and the Models panel."""

    title: str
    description: str
    limits: str
    overview: list[Row]  # ends with ("Folder", the model's folder)
    networks: list[Row]
    provenance: list[Row]
    metrics: list[Row]


def card_view(info: ModelInfo) -> CardView:
    card = info.card
    return CardView(
        title=info.name,
        description=str(card.get("description") or ""),
        limits=str(card.get("limits") or ""),
        overview=[*card_rows(info), ("Folder", str(info.path))],
        networks=network_rows(card),
        provenance=provenance_rows(card.get("provenance", {})),
        metrics=metric_rows(card.get("metrics", {})),
    )


def card_lines(info: ModelInfo) -> list[str]:
    """``studio models show``: the rows of :func:`card_view` as indented text (``--json`` has the card itself)."""
    view = card_view(info)

    def block(rows: list[Row], indent: str) -> list[str]:
        width = max((len(key) for key, _ in rows), default=0)
        return [f"{indent}{key:<{width}}  {value}" for key, value in rows]

    lines = [view.title]
    if view.description:
        lines.append(f"  {view.description}")
    if view.limits:
        lines.append(f"  Limits: {view.limits}")
    lines += block(view.overview, "  ")
    for heading, rows in (("Networks", view.networks), ("Provenance", view.provenance), ("Metrics", view.metrics)):
        if rows:
            lines += [f"  {heading}:", *block(rows, "    ")]
    return lines


def card_rows(info: ModelInfo) -> list[Row]:
    """A card's overview: what the model is and where it is."""
    card = info.card
    return [
        ("Kind", kind_label(info.kind)),
        ("Domains", f"A = {info.domains.get('A', 'A')}, B = {info.domains.get('B', 'B')}"),
        ("Directions", ", ".join(info.directions()) or "—"),
        ("Image size", f"{card.get('image_size', '?')} px"),
        ("Created", created(info.created)),
        ("Size", size(info.size_bytes)),
        ("Source", "built-in (read-only)" if info.builtin else "your model"),
        *palette_rows(card),
        *working_scale_rows(card),
    ]


def working_scale_rows(card: Mapping[str, Any]) -> list[Row]:
    """How larger photos are translated when the card sets a working scale (``translate.guided``)."""
    scale = card.get("working_scale")
    if not scale:
        return []
    return [("Translates at", f"{scale['short_side']} px short side, detail from the photo "
                               f"(guided filter r {scale.get('radius', 2)}, ε {scale.get('eps', 0.01):g}); "
                               "--working-size 0: the photo's own size")]


def palette_rows(card: Mapping[str, Any]) -> list[Row]:
    """A spade model's classes (what it paints) and whether it can segment a photo into them."""
    palette = card.get("palette")
    if not palette:
        return []
    names = ", ".join(f"{i} {entry.get('name', '?')}" for i, entry in enumerate(palette))
    return [("Classes", f"{len(palette)}: {names}"),
            ("Segments photos", "yes (automatic classes)" if card.get("segmenter") else "no (its label maps were given)")]


def network_rows(card: Mapping[str, Any]) -> list[Row]:
    return [(role, network_text(spec)) for role, spec in card.get("networks", {}).items()]


def provenance_rows(provenance: Mapping[str, Any]) -> list[Row]:
    """Where a model came from, one row per entry; long lists are cut short."""
    rows: list[Row] = []
    for key, value in provenance.items():
        if key == "skipped":
            names = ", ".join(Path(str(v[0])).name for v in value[:5])
            rows.append(("skipped", f"{len(value)} file(s)" + (": " + names if value else "")))
        elif isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items() if v is not None)
            rows.append((key.replace("_", " "), inner or "—"))
        elif isinstance(value, list):
            rows.append((key.replace("_", " "), json.dumps(value)[:400]))
        elif value is not None:
            rows.append((key.replace("_", " "), str(value)))
    return rows


def metric_rows(metrics: Mapping[str, Any], prefix: str = "") -> list[Row]:
    """Nested metrics (``eval`` → direction → figure) as readable (label, value) rows."""
    rows: list[Row] = []
    for key, value in metrics.items():
        label = f"{prefix}{key.replace('_', ' ')}"
        if isinstance(value, dict):
            rows.extend(metric_rows(value, f"{label} · "))
        elif isinstance(value, float):
            rows.append((label, f"{value:.4g}"))
        elif isinstance(value, list):
            shown = f"{len(value)} item(s)" if value and isinstance(value[0], (list, dict)) else ", ".join(map(str, value))
            rows.append((label, shown or "—"))
        elif value is not None:
            rows.append((label, str(value)))
    return rows


# -- ONNX export -----------------------------------------------------------------------------------

def onnx_written(done: Mapping[str, Any]) -> str:
    """The CLI's first line about a finished export (``done``: the export job's Finished value)."""
    return (f"exported {done['model']} {done['part']} to {done['path']} (ONNX opset {done['opset']}, "
            f"{megabytes(done['bytes'])}; onnx.checker passed)")


def onnx_parity(done: Mapping[str, Any]) -> str:
    """The CLI's second line: the onnxruntime-vs-PyTorch figure on the checked shapes, or why there is none."""
    if done["max_abs_diff"] is None:
        return f"not verified: {done['note']}"
    shapes = ", ".join("×".join(map(str, s[0])) for s in done["checked_shapes"])
    return (f"{done['verified_with']} vs PyTorch on {shapes}: max abs diff {done['max_abs_diff']:.2e} "
            f"(tolerance {done['tolerance']:g})")


def onnx_summary(done: Mapping[str, Any]) -> str:
    """The panel's status text after an export: the CLI's two lines, one under the other."""
    return f"{onnx_written(done)}\n{onnx_parity(done)}"


# -- evaluation ------------------------------------------------------------------------------------

def number(value: Any, digits: int = 4) -> str:
    """A figure for a person: ``-`` for None, small floats in ``g`` form, others without trailing zeros."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def _unpaired_rows(results: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for direction, section in results.items():
        rows.append((f"{direction} translated", str(section["translated"])))
        cycle = section.get("cycle")
        if cycle:
            rows.append((f"{direction} cycle {cycle['path']} L1", f"{number(cycle['l1'])}  (PSNR "
                         f"{number(cycle['psnr_db'], 2)} dB, {cycle['images']} images)"))
        if section.get("kid") is not None:
            samples = section["samples"]
            spread = f" ± {number(section['kid_std'])}" if section.get("kid_std") is not None else ""
            rows.append((f"{direction} KID", f"{number(section['kid'])}{spread}  ({samples['translated']} "
                         f"translated vs {samples['real']} real)"))
            rows.append((f"{direction} FID", number(section["fid"], 2)
                         + ("  (biased at this sample size; compare KID)" if section.get("fid_note") else "")))
        else:
            rows.append((f"{direction} KID / FID", f"unavailable: {section.get('fid_kid_unavailable')}"))
        memo = section.get("memorisation", {})
        if memo.get("available"):
            flagged = memo.get("flagged")
            closest = memo["closest"][0] if memo.get("closest") else None
            text = (f"nearest training image at {number(memo.get('min_ratio'), 3)} × the training set's own "
                    f"spacing; {len(flagged) if flagged is not None else '-'} flagged")
            if closest:
                text += f" (closest: {Path(closest['output_of']).name} ~ {Path(closest['nearest'][0]['file']).name})"
            rows.append((f"{direction} memorisation", text))
        else:
            rows.append((f"{direction} memorisation", f"unavailable: {memo.get('reason')}"))
    return rows


def eval_lines(model: str, record: Mapping[str, Any]) -> list[str]:
    """A card's evaluation record (``card["metrics"]["eval"]``) as readable, aligned ``metric  value`` lines."""
    data = record["data"]
    lines = [f"{model}: {record['type']} evaluation on {record['device']}, {record['measured']}"]
    rows: list[Row] = []
    results = record["results"]
    if record["type"] == "paired":
        lines.append(f"  A = {data['A']}, B = {data['B']} ({data['pairs']} pairs)")
        rows += [("PSNR (dB)", number(results["psnr_db"], 2)), ("SSIM", number(results["ssim"])),
                 ("L1 (pixels in [0, 1])", number(results["l1"])), ("images", str(results["images"]))]
        if results.get("identical_images"):
            rows.append(("identical to target", str(results["identical_images"])))
    elif record["type"] == "unpaired":
        counts = data.get("images", {})
        lines.append(f"  A = {data['A']} ({counts.get('A', 0)} images)"
                     + (f", B = {data['B']} ({counts.get('B', 0)} images)" if data.get("B") else ""))
        space = record["feature_space"]
        lines.append(f"  FID/KID features: {space['fid_kid'] or 'unavailable'}")
        lines.append(f"  memorisation features: {space['memorisation']}")
        rows += _unpaired_rows(results)
    else:
        lines.append(f"  held-out images: {data.get('held_out')} ({data.get('images')} images)")
        rows += [(key, number(value)) for key, value in results.items()]
    width = max((len(k) for k, _ in rows), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    if record.get("skipped"):
        lines.append(f"  skipped {len(record['skipped'])} unreadable file(s)")
    return lines


# -- downloads and the catalog ---------------------------------------------------------------------

def speed(bytes_per_s: float | None) -> str:
    """``3.2 MB/s``; ``—`` when unknown."""
    if not bytes_per_s or bytes_per_s < 0:
        return "—"
    return f"{size(int(bytes_per_s))}/s"


def transfer(done: float, total: float, bytes_per_s: float | None = None, eta_s: float | None = None) -> str:
    """``12.3 MB of 45.6 MB, 3.2 MB/s, 0:10 left`` (the total, speed and ETA only when known)."""
    text = f"{size(int(done))} of {size(int(total))}" if total else size(int(done))
    if bytes_per_s:
        text += f", {speed(bytes_per_s)}"
    if eta_s is not None and total and done < total:
        text += f", {clock(eta_s)} left"
    return text


def catalog_record(entry: CatalogEntry, installed_as: str | None) -> dict[str, Any]:
    """A catalog entry as plain data (``studio models available --json``, the Get models dialog)."""
    return {
        "id": entry.id, "name": entry.name, "kind": entry.kind, "arch": entry.arch,
        "domains": list(entry.domains), "title": entry.title, "description": entry.description,
        "path": entry.path, "pair": entry.pair, "size_bytes": entry.size_bytes, "source": entry.source,
        "installed": installed_as,
    }


def catalog_rows(catalog: list[CatalogEntry], installed: Mapping[str, str]) -> list[tuple[str, ...]]:
    """Aligned-column rows of the catalog: id, kind, installed as, approximate size, description."""
    rows: list[tuple[str, ...]] = [("ID", "KIND", "INSTALLED", "SIZE", "DESCRIPTION")]
    for entry in catalog:
        rows.append((entry.id, kind_label(entry.kind), installed.get(entry.id, "-"),
                     f"~{megabytes(entry.size_bytes)}" if entry.size_bytes else "?", entry.description))
    return rows
