"""Screen colours of H&M's colour groups (`colour_group_code` / `colour_group_name` of
articles.csv), for the storefront's swatches and the dashboard's colour mix. The codes and names
are H&M's (the generator reuses them); the hex values are our reading of each name."""
from __future__ import annotations

UNKNOWN_HEX = "#c8c8c8"
COLOUR_GROUPS_HEX: dict[int, tuple[str, str]] = {
    9: ("Black", "#111111"), 10: ("White", "#ffffff"), 11: ("Off White", "#f4f1e6"),
    12: ("Light Beige", "#ede0c8"), 13: ("Beige", "#d8c3a0"), 14: ("Greige", "#b9ad9c"),
    15: ("Dark Beige", "#a68d6a"), 6: ("Light Grey", "#d3d3d3"), 7: ("Grey", "#9a9a9a"),
    8: ("Dark Grey", "#555555"), 3: ("Silver", "#c0c0c0"), 5: ("Gold", "#c9a53a"),
    19: ("Yellowish Brown", "#a7782f"), 20: ("Light Orange", "#ffc48a"), 22: ("Orange", "#f28a1f"),
    23: ("Dark Orange", "#c8601a"), 25: ("Other Orange", "#e2803a"), 31: ("Light Yellow", "#fbf0a0"),
    32: ("Yellow", "#f5d327"), 33: ("Dark Yellow", "#c9a41b"), 41: ("Light Red", "#f08a8a"),
    42: ("Red", "#d0202e"), 43: ("Dark Red", "#8b1a22"), 50: ("Other Pink", "#e58fb1"),
    51: ("Light Pink", "#f7c6d6"), 52: ("Pink", "#ea7fa4"), 53: ("Dark Pink", "#b83d6e"),
    61: ("Light Purple", "#cdb6e4"), 62: ("Purple", "#7f4fb3"), 63: ("Dark Purple", "#4a2a6e"),
    71: ("Light Blue", "#a9c8ea"), 72: ("Blue", "#2f66c4"), 73: ("Dark Blue", "#1b2a4e"),
    74: ("Other Blue", "#5379a8"), 81: ("Light Turquoise", "#a6e3df"), 82: ("Turquoise", "#2bb3ad"),
    83: ("Dark Turquoise", "#1a6f6b"), 91: ("Light Green", "#b4deb0"), 92: ("Green", "#3d9a4a"),
    93: ("Dark Green", "#1f4f2a"), 94: ("Khaki Green", "#7b7c4a"), 95: ("Olive", "#5b5a2a"),
    17: ("Brown", "#7a4e2d"), 18: ("Dark Brown", "#4a2e1a"), 1: ("Other", UNKNOWN_HEX),
    -1: ("Unknown", UNKNOWN_HEX),
}
_HEX_BY_NAME = {name.lower(): hex_value for name, hex_value in COLOUR_GROUPS_HEX.values()}


def colour_hex(code: int | None = None, name: str | None = None) -> str:
    """The swatch of a colour group, by code first, else by name; grey when neither is known."""
    if code is not None and code in COLOUR_GROUPS_HEX:
        return COLOUR_GROUPS_HEX[code][1]
    return _HEX_BY_NAME.get((name or "").strip().lower(), UNKNOWN_HEX)
