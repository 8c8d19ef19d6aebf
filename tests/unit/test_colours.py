"""Every colour group the catalogue can hold has a swatch of its own name."""
from fashion_pipeline.colours import COLOUR_GROUPS_HEX, UNKNOWN_HEX, colour_hex
from fashion_pipeline.generate.taxonomy import COLOUR_GROUPS


def test_every_hm_colour_group_has_its_swatch_by_code_and_by_name():
    for group in COLOUR_GROUPS:
        assert COLOUR_GROUPS_HEX[group.colour_group_code][0] == group.colour_group_name
        assert colour_hex(name=group.colour_group_name) == colour_hex(group.colour_group_code)
    assert colour_hex(9) == "#111111" and colour_hex(name="dark blue") == "#1b2a4e"
    assert colour_hex(999, "Not a colour") == UNKNOWN_HEX
