"""Draw the gallery placeholders of the shipped personas (original art, no photos of people).

Each picture is a stylised scene (beach, café, city at night, stage...) with an abstract figure
in the persona's palette. Drawing is seeded by the file name, so running this again gives the
same pictures:

    .venv/bin/python scripts/make_art.py          # all images
    .venv/bin/python scripts/make_art.py kylie    # one persona
"""

from __future__ import annotations

import math
import random
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from companion.personas.repository import packaged_library_dir

Color = tuple[int, int, int]
SIZE = (480, 600)
# Beside the shipped cards, which name their images `img/<file>`.
OUT_DIR = packaged_library_dir() / "img"


@dataclass(frozen=True)
class Look:
    skin: Color
    hair: Color
    outfit: Color
    accent: Color
    hair_style: str = "short"  # short | long | curly | bun | swept
    beard: bool = False
    hat: bool = False


@dataclass(frozen=True)
class Shot:
    file: str
    scene: str
    look: Look
    figure: str = "portrait"  # portrait | back | small | none


# --- helpers -----------------------------------------------------------------------------------


def mix(a: Color, b: Color, t: float) -> Color:
    return (
        int(a[0] + (b[0] - a[0]) * t),
        int(a[1] + (b[1] - a[1]) * t),
        int(a[2] + (b[2] - a[2]) * t),
    )


def gradient(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], top: Color, bottom: Color
) -> None:
    x0, y0, x1, y1 = box
    for y in range(y0, y1):
        draw.line([(x0, y), (x1, y)], fill=mix(top, bottom, (y - y0) / max(1, y1 - y0 - 1)))


def glow(
    image: Image.Image, center: tuple[int, int], radius: int, color: Color, strength: int = 140
) -> None:
    layer = Image.new("RGB", image.size, (0, 0, 0))
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).ellipse(
        [center[0] - radius, center[1] - radius, center[0] + radius, center[1] + radius],
        fill=strength,
    )
    mask = mask.filter(ImageFilter.GaussianBlur(radius // 2))
    layer.paste(color, (0, 0, *image.size))
    image.paste(layer, (0, 0), mask)


# --- scenes ------------------------------------------------------------------------------------


def beach(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, int(h * 0.55)), (255, 170, 120), (255, 225, 170))
    glow(img, (int(w * 0.72), int(h * 0.3)), 90, (255, 245, 200), 200)
    d.ellipse([w * 0.64, h * 0.22, w * 0.80, h * 0.38], fill=(255, 236, 170))
    gradient(d, (0, int(h * 0.45), w, int(h * 0.68)), (40, 150, 180), (70, 190, 200))
    for _ in range(26):
        y = rng.randint(int(h * 0.46), int(h * 0.66))
        x = rng.randint(-40, w)
        d.line([(x, y), (x + rng.randint(30, 90), y)], fill=(200, 240, 240), width=2)
    gradient(d, (0, int(h * 0.66), w, h), (245, 215, 160), (225, 185, 130))
    d.polygon([(0, h * 0.66), (w, h * 0.63), (w, h * 0.68), (0, h * 0.70)], fill=(250, 250, 240))
    palm(d, int(w * 0.1), int(h * 0.75), rng)


def palm(d: ImageDraw.ImageDraw, x: int, y: int, rng: random.Random) -> None:
    top = (x + 30, y - 260)
    d.line([(x, y), (x + 10, y - 130), top], fill=(90, 60, 40), width=12, joint="curve")
    for angle in range(0, 360, 45):
        a = math.radians(angle + rng.randint(-10, 10))
        end = (top[0] + int(90 * math.cos(a)), top[1] + int(45 * math.sin(a)) + 25)
        d.line([top, end], fill=(30, 110, 60), width=9)


def cafe(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (110, 70, 50), (60, 38, 30))
    d.rectangle([w * 0.08, h * 0.08, w * 0.62, h * 0.5], fill=(250, 205, 140))
    for _ in range(18):
        cx, cy, r = rng.randint(50, 290), rng.randint(60, 290), rng.randint(8, 22)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=mix((255, 240, 200), look.accent, 0.3))
    d.line([(w * 0.35, h * 0.08), (w * 0.35, h * 0.5)], fill=(70, 45, 35), width=8)
    d.line([(w * 0.08, h * 0.29), (w * 0.62, h * 0.29)], fill=(70, 45, 35), width=8)
    glow(img, (int(w * 0.82), int(h * 0.15)), 60, (255, 210, 140), 170)
    d.rectangle([0, h * 0.78, w, h], fill=(150, 95, 60))
    d.ellipse([w * 0.7, h * 0.74, w * 0.86, h * 0.8], fill=(245, 245, 240))
    d.rectangle([w * 0.72, h * 0.69, w * 0.84, h * 0.77], fill=(245, 245, 240))
    d.arc([w * 0.82, h * 0.7, w * 0.9, h * 0.75], 270, 90, fill=(245, 245, 240), width=5)


def city_night(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (15, 20, 50), (60, 30, 80))
    for _ in range(40):
        x, y = rng.randint(0, w), rng.randint(0, int(h * 0.4))
        d.point((x, y), fill=(230, 230, 255))
    d.ellipse([w * 0.72, h * 0.07, w * 0.86, h * 0.18], fill=(240, 235, 210))
    x = 0
    while x < w:
        bw, bh = rng.randint(40, 90), rng.randint(int(h * 0.25), int(h * 0.6))
        top = h - bh
        d.rectangle([x, top, x + bw, h], fill=(25, 25, 45))
        for wy in range(top + 10, h - 10, 16):
            for wx in range(x + 6, x + bw - 8, 12):
                if rng.random() < 0.35:
                    d.rectangle(
                        [wx, wy, wx + 5, wy + 8], fill=mix((255, 210, 120), look.accent, 0.4)
                    )
        x += bw + rng.randint(2, 8)


def park(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, int(h * 0.6)), (170, 210, 240), (230, 240, 230))
    gradient(d, (0, int(h * 0.55), w, h), (120, 170, 90), (80, 130, 60))
    leaves = [(220, 120, 40), (240, 180, 60), (200, 80, 40), (150, 160, 60)]
    for i in range(5):
        x = int(w * (0.05 + i * 0.23)) + rng.randint(-20, 20)
        d.rectangle([x - 6, h * 0.4, x + 6, h * 0.62], fill=(90, 60, 40))
        for _ in range(14):
            cx, cy = x + rng.randint(-50, 50), int(h * 0.32) + rng.randint(-45, 40)
            r = rng.randint(18, 34)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rng.choice(leaves))
    d.polygon(
        [(w * 0.4, h), (w * 0.6, h), (w * 0.52, h * 0.6), (w * 0.48, h * 0.6)], fill=(205, 185, 150)
    )


def cozy_room(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (70, 60, 80), (40, 35, 50))
    d.rectangle([w * 0.1, h * 0.1, w * 0.55, h * 0.5], fill=(60, 80, 110))
    for _ in range(60):
        x, y = rng.randint(int(w * 0.1), int(w * 0.55)), rng.randint(int(h * 0.1), int(h * 0.48))
        d.line([(x, y), (x - 3, y + 12)], fill=(150, 170, 200), width=1)
    d.rectangle([w * 0.1, h * 0.1, w * 0.55, h * 0.5], outline=(110, 85, 60), width=10)
    glow(img, (int(w * 0.82), int(h * 0.35)), 110, (255, 190, 110), 160)
    d.polygon(
        [(w * 0.74, h * 0.28), (w * 0.9, h * 0.28), (w * 0.86, h * 0.36), (w * 0.78, h * 0.36)],
        fill=(250, 210, 150),
    )
    d.line([(w * 0.82, h * 0.36), (w * 0.82, h * 0.6)], fill=(60, 50, 40), width=5)
    d.rounded_rectangle([0, h * 0.72, w, h], radius=30, fill=mix(look.accent, (60, 50, 60), 0.5))


def study(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (70, 45, 35), (35, 25, 20))
    spines = [
        (120, 40, 40),
        (40, 70, 60),
        (150, 110, 50),
        (60, 50, 90),
        (90, 30, 30),
        (180, 160, 120),
    ]
    for shelf_y in range(int(h * 0.05), int(h * 0.7), 70):
        x = int(w * 0.03)
        while x < w * 0.97:
            bw = rng.randint(10, 22)
            bh = rng.randint(40, 60)
            d.rectangle([x, shelf_y + 62 - bh, x + bw, shelf_y + 62], fill=rng.choice(spines))
            x += bw + 2
        d.rectangle([0, shelf_y + 62, w, shelf_y + 70], fill=(50, 32, 22))
    glow(img, (int(w * 0.2), int(h * 0.55)), 90, (255, 200, 120), 150)


def stage(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (20, 10, 30), (50, 10, 40))
    beams = Image.new("L", img.size, 0)
    bd = ImageDraw.Draw(beams)
    for x in (0.15, 0.5, 0.85):
        bd.polygon(
            [(w * x - 15, 0), (w * x + 15, 0), (w * 0.5 + 140, h * 0.9), (w * 0.5 - 140, h * 0.9)],
            fill=70,
        )
    beams = beams.filter(ImageFilter.GaussianBlur(12))
    img.paste(Image.new("RGB", img.size, mix(look.accent, (255, 255, 255), 0.4)), (0, 0), beams)
    for _ in range(30):
        x = rng.randint(-10, w)
        r = rng.randint(16, 26)
        d.ellipse([x - r, h * 0.9 - r, x + r, h * 0.9 + r], fill=(10, 5, 15))
        d.rectangle([x - r, h * 0.9, x + r, h], fill=(10, 5, 15))


def backstage(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (45, 40, 45), (25, 22, 28))
    d.rectangle([w * 0.12, h * 0.08, w * 0.88, h * 0.55], fill=(90, 90, 100))
    d.rectangle([w * 0.15, h * 0.11, w * 0.85, h * 0.52], fill=(130, 140, 155))
    for i in range(9):
        x = w * 0.12 + i * (w * 0.76 / 8)
        for y in (h * 0.06, h * 0.57):
            glow(img, (int(x), int(y)), 18, (255, 240, 200), 220)
            d.ellipse([x - 7, y - 7, x + 7, y + 7], fill=(255, 250, 225))
    d.line([(w * 0.05, h * 0.75), (w * 0.95, h * 0.7)], fill=look.accent, width=6)


def sunset(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, int(h * 0.7)), (90, 50, 120), (250, 140, 90))
    glow(img, (int(w * 0.5), int(h * 0.62)), 120, (255, 200, 120), 200)
    d.ellipse([w * 0.38, h * 0.52, w * 0.62, h * 0.72], fill=(255, 190, 110))
    gradient(d, (0, int(h * 0.66), w, h), (70, 40, 70), (30, 20, 40))
    d.rectangle([0, h * 0.74, w, h * 0.76], fill=(20, 15, 25))
    for x in range(0, w, 36):
        d.line([(x, h * 0.76), (x, h)], fill=(20, 15, 25), width=4)


def road(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, int(h * 0.55)), (250, 150, 100), (255, 210, 150))
    d.polygon(
        [
            (0, h * 0.55),
            (w * 0.3, h * 0.38),
            (w * 0.55, h * 0.5),
            (w * 0.8, h * 0.36),
            (w, h * 0.5),
            (w, h * 0.6),
            (0, h * 0.6),
        ],
        fill=(120, 80, 100),
    )
    gradient(d, (0, int(h * 0.55), w, h), (190, 150, 100), (150, 110, 70))
    d.polygon(
        [(w * 0.47, h * 0.55), (w * 0.53, h * 0.55), (w * 0.9, h), (w * 0.1, h)], fill=(60, 55, 60)
    )
    for i in range(6):
        y0 = h * 0.58 + i * i * 9
        d.rectangle([w * 0.495 - i, y0, w * 0.505 + i, y0 + 6 + i * 3], fill=(240, 220, 120))


def london_fog(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (120, 125, 120), (70, 72, 70))
    for i in range(5):
        x = int(w * (i * 0.24)) - 20
        bh = rng.randint(int(h * 0.45), int(h * 0.7))
        d.rectangle([x, h - bh, x + 100, h], fill=(55 + i * 6, 58 + i * 6, 56 + i * 6))
        for wy in range(h - bh + 20, h - 40, 40):
            d.rectangle([x + 20, wy, x + 38, wy + 24], fill=(200, 170, 100))
            d.rectangle([x + 60, wy, x + 78, wy + 24], fill=(200, 170, 100))
    d.line([(w * 0.8, h * 0.3), (w * 0.8, h)], fill=(25, 25, 25), width=8)
    d.rectangle([w * 0.76, h * 0.24, w * 0.84, h * 0.32], fill=(30, 30, 30))
    glow(img, (int(w * 0.8), int(h * 0.28)), 70, (255, 220, 150), 200)
    fog = Image.new("L", img.size, 0)
    fd = ImageDraw.Draw(fog)
    for _ in range(14):
        y = rng.randint(int(h * 0.3), h)
        fd.ellipse([rng.randint(-200, w), y - 30, rng.randint(w, w + 200), y + 30], fill=90)
    img.paste(
        Image.new("RGB", img.size, (190, 195, 190)),
        (0, 0),
        fog.filter(ImageFilter.GaussianBlur(25)),
    )


def office(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (215, 220, 225), (170, 175, 185))
    for i in range(3):
        x0 = w * (0.05 + i * 0.31)
        d.rectangle([x0, h * 0.06, x0 + w * 0.28, h * 0.55], fill=(170, 200, 230))
        gradient(
            d,
            (int(x0), int(h * 0.35), int(x0 + w * 0.28), int(h * 0.55)),
            (120, 140, 170),
            (90, 110, 140),
        )
    d.rectangle(
        [w * 0.6, h * 0.1, w * 0.95, h * 0.4],
        fill=(250, 250, 250),
        outline=(120, 120, 130),
        width=4,
    )
    for i in range(4):
        y = h * 0.15 + i * 28
        d.line([(w * 0.64, y), (w * (0.7 + rng.random() * 0.2), y)], fill=look.accent, width=5)
    d.rectangle([0, h * 0.8, w, h], fill=(120, 90, 70))


def rooftop(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, look: Look) -> None:
    w, h = img.size
    gradient(d, (0, 0, w, h), (120, 170, 220), (230, 200, 180))
    x = 0
    while x < w:
        bw, bh = rng.randint(30, 70), rng.randint(int(h * 0.15), int(h * 0.4))
        d.rectangle([x, h * 0.7 - bh, x + bw, h * 0.7], fill=(140, 150, 175))
        x += bw + 4
    d.rectangle([0, h * 0.7, w, h], fill=(110, 100, 100))
    d.line([(0, h * 0.74), (w, h * 0.74)], fill=(60, 60, 70), width=5)
    for i in range(8):
        bx = int(w * i / 7)
        glow(img, (bx, int(h * 0.68)), 14, (255, 230, 160), 220)


SCENES: dict[str, Callable[[Image.Image, ImageDraw.ImageDraw, random.Random, Look], None]] = {
    "beach": beach,
    "cafe": cafe,
    "city_night": city_night,
    "park": park,
    "cozy_room": cozy_room,
    "study": study,
    "stage": stage,
    "backstage": backstage,
    "sunset": sunset,
    "road": road,
    "london_fog": london_fog,
    "office": office,
    "rooftop": rooftop,
}


# --- figures -----------------------------------------------------------------------------------


def figure(img: Image.Image, look: Look, kind: str, rng: random.Random) -> None:
    if kind == "none":
        return
    w, h = img.size
    scale = {"portrait": 1.0, "back": 1.0, "small": 0.55}[kind]
    cx = w * (0.5 if kind != "small" else 0.3)
    base = h
    head_r = 62 * scale
    head_cy = base - 330 * scale
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    shadow = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(shadow).ellipse(
        [cx - 170 * scale, base - 200 * scale, cx + 170 * scale, base + 120 * scale],
        fill=(0, 0, 0, 90),
    )
    img.paste(
        shadow.filter(ImageFilter.GaussianBlur(20)),
        (0, 0),
        shadow.filter(ImageFilter.GaussianBlur(20)),
    )
    # hair behind the head, drawn first so shoulders and neck come in front of it
    if look.hair_style == "long":
        d.rounded_rectangle(
            [cx - 88 * scale, head_cy - 70 * scale, cx + 88 * scale, base - 150 * scale],
            radius=int(80 * scale),
            fill=look.hair,
        )
    hair_back = {
        "curly": [cx - 110 * scale, head_cy - 100 * scale, cx + 110 * scale, head_cy + 110 * scale],
        "bun": [cx - 72 * scale, head_cy - 72 * scale, cx + 72 * scale, head_cy + 60 * scale],
    }.get(look.hair_style)
    if hair_back:
        d.ellipse(hair_back, fill=look.hair)
    # torso and neck
    d.rounded_rectangle(
        [cx - 150 * scale, base - 220 * scale, cx + 150 * scale, base + 60 * scale],
        radius=int(90 * scale),
        fill=look.outfit,
    )
    d.rectangle(
        [cx - 24 * scale, head_cy + 40 * scale, cx + 24 * scale, base - 205 * scale], fill=look.skin
    )
    if kind == "portrait":
        d.polygon(
            [
                (cx - 40 * scale, base - 218 * scale),
                (cx + 40 * scale, base - 218 * scale),
                (cx, base - 150 * scale),
            ],
            fill=mix(look.skin, look.outfit, 0.15),
        )
        d.line(
            [(cx - 100 * scale, base - 120 * scale), (cx - 100 * scale, base + 40 * scale)],
            fill=mix(look.outfit, (0, 0, 0), 0.25),
            width=max(2, int(6 * scale)),
        )
    if look.hair_style == "curly":
        for _ in range(40):
            a = rng.uniform(0, 2 * math.pi)
            rr = rng.uniform(70, 105) * scale
            px, py = cx + rr * math.cos(a), head_cy - 10 * scale + rr * 0.95 * math.sin(a)
            cr = rng.uniform(14, 24) * scale
            d.ellipse(
                [px - cr, py - cr, px + cr, py + cr],
                fill=mix(look.hair, (255, 255, 255), rng.uniform(0, 0.12)),
            )
    if look.hair_style == "bun":
        d.ellipse(
            [cx - 38 * scale, head_cy - 120 * scale, cx + 38 * scale, head_cy - 50 * scale],
            fill=look.hair,
        )
    # head
    d.ellipse(
        [cx - head_r * 0.85, head_cy - head_r, cx + head_r * 0.85, head_cy + head_r], fill=look.skin
    )
    if kind == "back":
        d.ellipse(
            [cx - head_r * 0.9, head_cy - head_r * 1.05, cx + head_r * 0.9, head_cy + head_r * 0.9],
            fill=look.hair,
        )
    else:
        # hair on top
        if look.hair_style in {"short", "swept", "bun", "long"}:
            d.chord(
                [
                    cx - head_r * 0.92,
                    head_cy - head_r * 1.12,
                    cx + head_r * 0.92,
                    head_cy + head_r * 0.5,
                ],
                180,
                360,
                fill=look.hair,
            )
        if look.hair_style == "swept":
            d.polygon(
                [
                    (cx - head_r * 0.9, head_cy - head_r * 0.3),
                    (cx + head_r * 0.2, head_cy - head_r * 1.3),
                    (cx + head_r * 0.95, head_cy - head_r * 0.5),
                ],
                fill=look.hair,
            )
        if look.beard:
            d.chord(
                [
                    cx - head_r * 0.82,
                    head_cy - head_r * 0.2,
                    cx + head_r * 0.82,
                    head_cy + head_r * 1.08,
                ],
                0,
                180,
                fill=look.hair,
            )
            d.ellipse(
                [
                    cx - head_r * 0.25,
                    head_cy + head_r * 0.35,
                    cx + head_r * 0.25,
                    head_cy + head_r * 0.55,
                ],
                fill=look.skin,
            )
        eye = mix(look.hair, (20, 20, 20), 0.6)
        for side in (-1, 1):
            ex = cx + side * head_r * 0.32
            d.ellipse(
                [ex - 5 * scale, head_cy - 8 * scale, ex + 5 * scale, head_cy + 4 * scale], fill=eye
            )
        if not look.beard:
            d.arc(
                [cx - 18 * scale, head_cy + 18 * scale, cx + 18 * scale, head_cy + 38 * scale],
                20,
                160,
                fill=mix(look.skin, (150, 40, 60), 0.5),
                width=max(2, int(4 * scale)),
            )
    if look.hat:
        d.ellipse(
            [
                cx - head_r * 1.15,
                head_cy - head_r * 0.75,
                cx + head_r * 1.15,
                head_cy - head_r * 0.35,
            ],
            fill=mix(look.accent, (0, 0, 0), 0.3),
        )
        d.chord(
            [
                cx - head_r * 0.95,
                head_cy - head_r * 1.35,
                cx + head_r * 0.95,
                head_cy - head_r * 0.2,
            ],
            180,
            360,
            fill=look.accent,
        )
    img.paste(layer, (0, 0), layer)


def draw(shot: Shot) -> Image.Image:
    rng = random.Random(zlib.crc32(shot.file.encode()))
    image = Image.new("RGB", SIZE)
    SCENES[shot.scene](image, ImageDraw.Draw(image), rng, shot.look)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    figure(image, shot.look, shot.figure, rng)
    # A soft vignette keeps the eye on the figure and hides hard edges.
    vignette = Image.new("L", SIZE, 0)
    ImageDraw.Draw(vignette).ellipse([-120, -80, SIZE[0] + 120, SIZE[1] + 160], fill=255)
    vignette = vignette.filter(ImageFilter.GaussianBlur(60))
    dark = Image.new("RGB", SIZE, (10, 8, 14))
    return Image.composite(image, dark, vignette)


# --- the shipped personas ----------------------------------------------------------------------

KYLIE = Look(
    skin=(176, 118, 82),
    hair=(45, 28, 20),
    outfit=(250, 200, 60),
    accent=(255, 120, 90),
    hair_style="curly",
)
KYLIE_EVENING = Look(
    skin=(176, 118, 82),
    hair=(45, 28, 20),
    outfit=(170, 30, 60),
    accent=(255, 150, 120),
    hair_style="curly",
)
MARK = Look(
    skin=(228, 190, 160),
    hair=(60, 42, 32),
    outfit=(45, 50, 70),
    accent=(120, 140, 180),
    hair_style="swept",
    beard=True,
)
MARK_COAT = Look(
    skin=(228, 190, 160),
    hair=(60, 42, 32),
    outfit=(120, 95, 70),
    accent=(160, 170, 200),
    hair_style="swept",
    beard=True,
)
MARK_EVENING = Look(
    skin=(228, 190, 160),
    hair=(60, 42, 32),
    outfit=(235, 235, 240),
    accent=(200, 120, 80),
    hair_style="swept",
    beard=True,
)
VERA = Look(
    skin=(240, 205, 180),
    hair=(150, 80, 40),
    outfit=(200, 120, 90),
    accent=(230, 170, 110),
    hair_style="long",
)
LEO = Look(
    skin=(225, 185, 150),
    hair=(90, 75, 60),
    outfit=(70, 110, 100),
    accent=(120, 170, 150),
    hair_style="short",
    beard=True,
)
DASHA = Look(
    skin=(245, 215, 195),
    hair=(230, 190, 120),
    outfit=(110, 150, 210),
    accent=(250, 140, 160),
    hair_style="bun",
)
ILYA = Look(
    skin=(230, 195, 165),
    hair=(35, 30, 30),
    outfit=(60, 70, 90),
    accent=(60, 130, 200),
    hair_style="short",
)
SHERLOCK = Look(
    skin=(235, 205, 185),
    hair=(40, 30, 25),
    outfit=(85, 80, 70),
    accent=(110, 95, 75),
    hair_style="short",
    hat=True,
)
SHERLOCK_HOME = Look(
    skin=(235, 205, 185),
    hair=(40, 30, 25),
    outfit=(120, 30, 40),
    accent=(150, 60, 60),
    hair_style="short",
)
NOVA = Look(
    skin=(235, 200, 185),
    hair=(200, 40, 120),
    outfit=(25, 25, 30),
    accent=(0, 220, 200),
    hair_style="long",
)

SHOTS: dict[str, list[Shot]] = {
    "kylie": [
        Shot("kylie-beach.jpg", "beach", KYLIE),
        Shot("kylie-cafe.jpg", "cafe", KYLIE),
        Shot("kylie-city-night.jpg", "city_night", KYLIE),
        Shot("kylie-evening.jpg", "sunset", KYLIE_EVENING, "back"),
    ],
    "mark": [
        Shot("mark-study.jpg", "study", MARK),
        Shot("mark-city-night.jpg", "city_night", MARK_COAT),
        Shot("mark-cafe.jpg", "cafe", MARK),
        Shot("mark-evening.jpg", "cozy_room", MARK_EVENING),
    ],
    "vera": [
        Shot("vera-cafe.jpg", "cafe", VERA),
        Shot("vera-park.jpg", "park", VERA),
        Shot("vera-home.jpg", "cozy_room", VERA),
    ],
    "leo": [
        Shot("leo-rain.jpg", "cozy_room", LEO),
        Shot("leo-park.jpg", "park", LEO, "back"),
        Shot("leo-sunrise.jpg", "sunset", LEO, "small"),
    ],
    "dasha": [
        Shot("dasha-cafe.jpg", "cafe", DASHA),
        Shot("dasha-park.jpg", "park", DASHA),
        Shot("dasha-rooftop.jpg", "rooftop", DASHA),
    ],
    "ilya": [
        Shot("ilya-office.jpg", "office", ILYA),
        Shot("ilya-rooftop.jpg", "rooftop", ILYA),
        Shot("ilya-cafe.jpg", "cafe", ILYA),
    ],
    "sherlock-holmes": [
        Shot("sherlock-street.jpg", "london_fog", SHERLOCK),
        Shot("sherlock-study.jpg", "study", SHERLOCK_HOME),
        Shot("sherlock-night.jpg", "city_night", SHERLOCK, "back"),
    ],
    "nova-ray": [
        Shot("nova-stage.jpg", "stage", NOVA),
        Shot("nova-backstage.jpg", "backstage", NOVA),
        Shot("nova-road.jpg", "road", NOVA, "small"),
        Shot("nova-city-night.jpg", "city_night", NOVA),
    ],
}


def main(argv: list[str]) -> None:
    OUT_DIR.mkdir(exist_ok=True)
    wanted = set(argv) or set(SHOTS)
    for persona_id, shots in SHOTS.items():
        if persona_id not in wanted:
            continue
        for shot in shots:
            path = OUT_DIR / shot.file
            draw(shot).save(path, format="JPEG", quality=80, optimize=True, progressive=True)
            print(f"{path.relative_to(OUT_DIR.parent)}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(sys.argv[1:])
