"""The report's heat map, drawn with Pillow alone (matplotlib's own image library, without matplotlib).

A PNG of the share of jobs in which each fact holds per (variant, tensor), on cividis, a neutral single-hue
scale (these are facts, not passes and failures), with unmeasured cells grey, hatched and marked `n/a`;
categorical columns (the export role per exporter) show the category itself, each in its own colour.
Matplotlib took most of a report's time (importing it and laying out a few hundred texts); Pillow draws the
same picture in a few milliseconds. The font is matplotlib's DejaVu Sans when installed, else Pillow's own.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from PIL import Image

# cividis at 0, 1/8, ..., 1 (matplotlib's table); shares in between are interpolated
CIVIDIS = [(0, 34, 78), (26, 56, 111), (67, 78, 108), (97, 101, 111), (125, 124, 120), (155, 148, 118),
           (188, 174, 108), (222, 201, 88), (254, 232, 56)]
NOT_MEASURED = (228, 228, 228)  # n/a cells
HATCH = (160, 160, 160)
CELL_W, CELL_H = 72, 26
Share = Tuple[object, bool]  # (share of the jobs that measured it, a category such as an export role, or None;
#                              not measured in every job)
# Categories (export roles), each its own colour (Okabe-Ito, told apart with colour-blindness), text on it.
CATEGORY = {"initializer": (0, 114, 178), "constant": (230, 159, 0), "folded": (86, 180, 233), "input": (0, 158, 115),
            "absent": (255, 255, 255), "parameter": (0, 114, 178), "buffer": (0, 158, 115),
            "constant_tensor": (230, 159, 0), "error": (213, 94, 0)}
MIXED = (204, 121, 167)  # jobs disagree (`a/b`)
OTHER = (240, 228, 66)


def colour(share: float) -> Tuple[int, int, int]:
    x = min(max(share, 0.0), 1.0) * (len(CIVIDIS) - 1)
    i = min(int(x), len(CIVIDIS) - 2)
    f = x - i
    return tuple(round(a + (b - a) * f) for a, b in zip(CIVIDIS[i], CIVIDIS[i + 1]))


def _font(size: int):
    from PIL import ImageFont
    spec = importlib.util.find_spec("matplotlib")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _width(font, text: str) -> float:
    return font.getlength(text)


def _rotated(text: str, font, angle: float, fill) -> "Image.Image":
    from PIL import Image, ImageDraw
    box = font.getbbox(text)
    tile = Image.new("RGBA", (int(box[2]) + 4, int(box[3]) + 4), (255, 255, 255, 0))
    ImageDraw.Draw(tile).text((2, 2), text, font=font, fill=fill)
    return tile.rotate(angle, expand=True, resample=Image.BICUBIC)


def draw(labels: Sequence[str], facts: Sequence[str], shares: List[List[Share]], path: Path) -> Optional[Path]:
    """Write the heat map to path; None when Pillow is missing or there is nothing to draw."""
    if not labels or not facts:
        return None
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    small, normal = _font(11), _font(12)
    annotate = len(labels) * len(facts) <= 600
    angle = 40
    left = int(max(_width(small, s) for s in labels)) + 24
    top = 52
    slant = max(_width(normal, f) for f in facts)
    bottom = int(slant * math.sin(math.radians(angle))) + 24
    grid_w, grid_h = CELL_W * len(facts), CELL_H * len(labels)
    title = "tensor facts per (variant, tensor): share of the jobs that measured each"
    subtitle = ("n/a (grey, hatched) = not measured; * = not measured in every job; "
                "role: <exporter> = the export role (error: the exporter failed)")
    bar_h = min(max(grid_h, 120), 260)
    width = int(max(left + grid_w + 110, _width(normal, title) + 20))
    height = top + max(grid_h + bottom, bar_h + 10)
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    hatch = Image.new("RGB", (CELL_W, CELL_H), NOT_MEASURED)
    hatch_pen = ImageDraw.Draw(hatch)
    for k in range(-CELL_H, CELL_W, 7):
        hatch_pen.line([(k, CELL_H), (k + CELL_H, 0)], fill=HATCH, width=1)

    for i, (label, row) in enumerate(zip(labels, shares)):
        y = top + i * CELL_H
        pen.text((left - 8, y + CELL_H / 2), label, font=small, fill="black", anchor="rm")
        for j, (share, incomplete) in enumerate(row):
            x = left + j * CELL_W
            if share is None:
                image.paste(hatch, (x, y))
                if annotate:
                    pen.text((x + CELL_W / 2, y + CELL_H / 2), "n/a", font=small, fill=(64, 64, 64), anchor="mm")
                continue
            if isinstance(share, str):
                fill = MIXED if "/" in share else CATEGORY.get(share, OTHER)
                pen.rectangle([x, y, x + CELL_W - 1, y + CELL_H - 1], fill=fill)
                text = share + ("*" if incomplete else "")
                while _width(small, text) > CELL_W - 6 and len(text) > 2:
                    text = text[:-2] + "…"
                dark = sum(fill) < 400
                pen.text((x + CELL_W / 2, y + CELL_H / 2), text, font=small, anchor="mm",
                         fill="white" if dark else "black")
                continue
            pen.rectangle([x, y, x + CELL_W - 1, y + CELL_H - 1], fill=colour(share))
            if annotate:
                text = f"{share:.0%}" + ("*" if incomplete else "")
                pen.text((x + CELL_W / 2, y + CELL_H / 2), text, font=small, anchor="mm",
                         fill="black" if share >= 0.5 else "white")
    for j in range(1, len(facts)):  # thin white rules between columns and rows
        pen.line([(left + j * CELL_W, top), (left + j * CELL_W, top + grid_h - 1)], fill="white")
    for i in range(1, len(labels)):
        pen.line([(left, top + i * CELL_H), (left + grid_w - 1, top + i * CELL_H)], fill="white")

    for j, fact in enumerate(facts):  # x labels at 40 degrees, ending under their column
        tile = _rotated(fact, normal, angle, "black")
        cx = left + j * CELL_W + CELL_W / 2
        image.paste(tile, (int(cx - tile.width + 6), top + grid_h + 4), tile)

    bar_x, bar_y = left + grid_w + 22, top
    for k in range(bar_h):  # the scale, 1 at the top
        pen.line([(bar_x, bar_y + k), (bar_x + 14, bar_y + k)], fill=colour(1 - k / max(bar_h - 1, 1)))
    pen.rectangle([bar_x, bar_y, bar_x + 14, bar_y + bar_h - 1], outline=(90, 90, 90))
    for value in (0.0, 0.5, 1.0):
        ty = bar_y + (1 - value) * (bar_h - 1)
        pen.line([(bar_x + 14, ty), (bar_x + 18, ty)], fill=(90, 90, 90))
        pen.text((bar_x + 21, ty), f"{value:.0%}", font=small, fill="black", anchor="lm")
    caption = _rotated("share of jobs where true", small, 90, "black")
    image.paste(caption, (bar_x + 56, int(bar_y + bar_h / 2 - caption.height / 2)), caption)

    pen.text((10, 6), title, font=normal, fill="black")
    pen.text((10, 26), subtitle, font=small, fill=(60, 60, 60))
    image.save(path, format="PNG", optimize=False)
    return path
