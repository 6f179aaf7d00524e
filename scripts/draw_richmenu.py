"""Draw the rich-menu images (knowledge/richmenu/<lang>.png) from the labels in knowledge/richmenu.yaml.

Maintainers re-run it when a label changes (`make richmenu-images`) and commit the PNGs, so deploying
needs neither Pillow nor a font. Needs the Noto Sans CJK font (SIL Open Font License; Debian/Ubuntu:
`apt-get install fonts-noto-cjk`), or FONT_DIR pointing at NotoSansCJK-Bold.ttc and -Regular.ttc."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import knowledge, richmenu

FONT_DIRS = [os.environ.get("FONT_DIR", ""), "/usr/share/fonts/opentype/noto", "/usr/share/fonts/noto-cjk"]
JP_FACE = 0  # the .ttc's Japanese face (Noto Sans CJK JP): Japanese glyph shapes for kanji
BACKGROUND = "#FFFFFF"
GRID = "#D9DEE3"
INK = "#1F2933"
NOTE_INK = "#5F6B7A"
ACCENTS = ["#06C755", "#1A73E8", "#00B3A4", "#F29900", "#7B61FF", "#8A94A6"]  # one per area, in order
MARGIN = 60
BOLD, REGULAR = "NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc"


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if folder and path.exists():
            return ImageFont.truetype(str(path), size, index=JP_FACE)
    raise SystemExit(f"font {name} not found in {[d for d in FONT_DIRS if d]}: apt-get install fonts-noto-cjk")


def _fitted(draw: ImageDraw.ImageDraw, texts: list[tuple[str, int]], name: str, size: int) -> ImageFont.FreeTypeFont:
    """The largest font up to `size` in which every (text, width) fits: one size for the whole menu."""
    while size > 20:
        font = _font(name, size)
        if all(draw.textlength(text, font=font) <= width for text, width in texts):
            return font
        size -= 4
    return _font(name, size)


def draw(menus: richmenu.RichMenus, menu: richmenu.Menu) -> Image.Image:
    """One menu's image: a grid of tiles, each with a coloured bar, its label and its note."""
    image = Image.new("RGB", (richmenu.WIDTH, richmenu.HEIGHT), BACKGROUND)
    pen = ImageDraw.Draw(image)
    places = richmenu.bounds(len(menu.areas), menus.columns)
    room = [w - 2 * MARGIN for _, _, w, _ in places]
    label = _fitted(pen, [(a.label, r) for a, r in zip(menu.areas, room, strict=True)], BOLD, 104)
    note = _fitted(pen, [(a.note, r) for a, r in zip(menu.areas, room, strict=True)], REGULAR, 60)
    for i, (area, (x, y, w, h)) in enumerate(zip(menu.areas, places, strict=True)):
        accent = ACCENTS[i % len(ACCENTS)]
        pen.rectangle((x, y, x + w - 1, y + h - 1), outline=GRID, width=4)
        pen.rectangle((x + 4, y + 4, x + w - 5, y + 28), fill=accent)
        centre_x, centre_y = x + w / 2, y + h / 2 + 14
        if area.note:
            pen.text((centre_x, centre_y - 12), area.label, font=label, fill=INK, anchor="md")
            pen.text((centre_x, centre_y + 28), area.note, font=note, fill=NOTE_INK, anchor="ma")
        else:
            pen.text((centre_x, centre_y), area.label, font=label, fill=INK, anchor="mm")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--knowledge", metavar="DIR", help="knowledge directory (default: knowledge/)")
    args = parser.parse_args()
    kb = knowledge.load(args.knowledge)
    menus = richmenu.load(args.knowledge, kb, images=False)
    for lang, menu in menus.menus.items():
        info = PngInfo()
        info.add_text(richmenu.DIGEST_KEY, richmenu.labels_digest(menus, menu))
        path = menus.image_path(lang)
        path.parent.mkdir(exist_ok=True)
        # A palette image: a few flat colours and anti-aliased text fit in 256, at a fraction of the bytes.
        flat = draw(menus, menu).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        flat.save(path, optimize=True, pnginfo=info)
        print(f"{path}: {richmenu.WIDTH}x{richmenu.HEIGHT}, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
