"""H&M-like reference data for the synthetic catalogue, written for this project.

The shape follows the public H&M Kaggle catalogue (index -> index group, section, department,
garment group, product type, colour, graphical appearance) so that downstream joins and filters
behave as on the real files; the values are our own approximations.

Audience letters used below say which index groups a product type plausibly appears in:
L = Ladieswear, D = Divided, M = Menswear, K = Baby/Children, S = Sport.
"""
from __future__ import annotations

from dataclasses import dataclass

LADIES, DIVIDED, MENS, KIDS, SPORT = "L", "D", "M", "K", "S"
AUDIENCES = (LADIES, DIVIDED, MENS, KIDS, SPORT)

# Seasonal peak month of a product type (1..12), or None when it sells all year.
SUMMER, WINTER, SPRING, AUTUMN = 7, 12, 4, 10


@dataclass(frozen=True)
class IndexGroup:
    index_group_no: int
    index_group_name: str
    audience: str


@dataclass(frozen=True)
class Index:
    index_code: str
    index_name: str
    index_group_no: int


@dataclass(frozen=True)
class Section:
    section_no: int
    section_name: str
    index_code: str


@dataclass(frozen=True)
class GarmentGroup:
    garment_group_no: int
    garment_group_name: str


@dataclass(frozen=True)
class ProductType:
    product_type_no: int
    product_type_name: str
    product_group_name: str
    garment_group_nos: tuple[int, ...]
    audiences: str
    season_peak_month: int | None


@dataclass(frozen=True)
class ColourGroup:
    colour_group_code: int
    colour_group_name: str
    perceived_colour_value_id: int
    perceived_colour_value_name: str
    perceived_colour_master_id: int
    perceived_colour_master_name: str


@dataclass(frozen=True)
class GraphicalAppearance:
    graphical_appearance_no: int
    graphical_appearance_name: str


@dataclass(frozen=True)
class Department:
    department_no: int
    department_name: str
    section_no: int
    garment_group_no: int


INDEX_GROUPS = (
    IndexGroup(1, "Ladieswear", LADIES),
    IndexGroup(2, "Divided", DIVIDED),
    IndexGroup(3, "Menswear", MENS),
    IndexGroup(4, "Baby/Children", KIDS),
    IndexGroup(26, "Sport", SPORT),
)
INDEX_GROUP_BY_AUDIENCE = {group.audience: group for group in INDEX_GROUPS}
INDEX_GROUP_BY_NO = {group.index_group_no: group for group in INDEX_GROUPS}

INDEXES = (
    Index("A", "Ladieswear", 1),
    Index("B", "Lingerie and Tights", 1),
    Index("C", "Ladies Accessories", 1),
    Index("D", "Divided", 2),
    Index("E", "Sport", 26),
    Index("F", "Menswear", 3),
    Index("G", "Baby Sizes 50-98", 4),
    Index("H", "Children Sizes 92-140", 4),
    Index("I", "Children Sizes 134-170", 4),
    Index("J", "Children Accessories, Swimwear", 4),
)
INDEX_BY_CODE = {index.index_code: index for index in INDEXES}

SECTIONS = (
    Section(2, "Womens Everyday Collection", "A"),
    Section(4, "Womens Casual", "A"),
    Section(6, "Womens Tailoring", "A"),
    Section(8, "Womens Trend", "A"),
    Section(10, "Womens Premium", "A"),
    Section(12, "Ladies Denim", "A"),
    Section(14, "Womens Lingerie", "B"),
    Section(16, "Womens Nightwear, Socks & Tights", "B"),
    Section(18, "Womens Swimwear, Beachwear", "B"),
    Section(20, "Womens Small Accessories", "C"),
    Section(22, "Womens Big Accessories", "C"),
    Section(24, "Womens Shoes", "C"),
    Section(30, "Divided Collection", "D"),
    Section(32, "Divided Basics", "D"),
    Section(34, "Divided Projects", "D"),
    Section(36, "Divided Accessories", "D"),
    Section(38, "Divided Selected", "D"),
    Section(40, "Ladies Sport", "E"),
    Section(42, "Mens Sport", "E"),
    Section(44, "Kids Sport", "E"),
    Section(50, "Menswear Casual", "F"),
    Section(52, "Men Suits & Tailoring", "F"),
    Section(54, "Men Underwear", "F"),
    Section(56, "Men Accessories", "F"),
    Section(58, "Men Shoes", "F"),
    Section(60, "Men Denim", "F"),
    Section(70, "Baby Essentials", "G"),
    Section(72, "Baby Girl", "G"),
    Section(74, "Baby Boy", "G"),
    Section(76, "Kids Girl", "H"),
    Section(78, "Kids Boy", "H"),
    Section(80, "Young Girl", "I"),
    Section(82, "Young Boy", "I"),
    Section(84, "Kids Accessories, Swimwear & Shoes", "J"),
)
SECTION_BY_NO = {section.section_no: section for section in SECTIONS}

GARMENT_GROUPS = (
    GarmentGroup(1001, "Unknown"),
    GarmentGroup(1002, "Jersey Basic"),
    GarmentGroup(1003, "Knitwear"),
    GarmentGroup(1005, "Jersey Fancy"),
    GarmentGroup(1006, "Woven/Jersey/Knitted mix Baby"),
    GarmentGroup(1007, "Outdoor"),
    GarmentGroup(1008, "Dressed"),
    GarmentGroup(1009, "Trousers"),
    GarmentGroup(1010, "Blouses"),
    GarmentGroup(1011, "Shirts"),
    GarmentGroup(1012, "Skirt"),
    GarmentGroup(1013, "Dresses Ladies"),
    GarmentGroup(1014, "Dresses/Skirts girls"),
    GarmentGroup(1016, "Trousers Denim"),
    GarmentGroup(1017, "Under-, Nightwear"),
    GarmentGroup(1018, "Swimwear"),
    GarmentGroup(1019, "Accessories"),
    GarmentGroup(1020, "Shoes"),
    GarmentGroup(1021, "Socks and Tights"),
    GarmentGroup(1023, "Special Offers"),
    GarmentGroup(1025, "Shorts"),
)
GARMENT_GROUP_BY_NO = {group.garment_group_no: group for group in GARMENT_GROUPS}

_JB, _KN, _JF, _BABY, _OUT, _DRS, _TRO, _BLO, _SHI, _SKI, _DRL, _DRG, _DEN, _UND, _SWI, _ACC, \
    _SHO, _SOC, _OFF, _SHT, _UNK = (
        1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1016, 1017, 1018,
        1019, 1020, 1021, 1023, 1025, 1001,
    )

_UPPER, _LOWER, _FULL = "Garment Upper body", "Garment Lower body", "Garment Full body"
_ACCS, _UNDER, _SHOES = "Accessories", "Underwear", "Shoes"
_SWIM, _SOCKS = "Swimwear", "Socks & Tights"
_NIGHT, _BAGS, _ITEMS, _COSM, _OTHER = "Nightwear", "Bags", "Items", "Cosmetic", "Unknown"

PRODUCT_TYPES = (
    ProductType(252, "Sweater", _UPPER, (_KN, _JF), "LDMKS", AUTUMN),
    ProductType(253, "Vest top", _UPPER, (_JB, _JF), "LDMKS", SUMMER),
    ProductType(254, "Top", _UPPER, (_JF, _JB, _BLO), "LDK", None),
    ProductType(255, "T-shirt", _UPPER, (_JB, _JF), "LDMKS", SUMMER),
    ProductType(256, "Bodysuit", _UPPER, (_JB, _JF), "LDK", None),
    ProductType(257, "Cardigan", _UPPER, (_KN,), "LDMK", AUTUMN),
    ProductType(258, "Blouse", _UPPER, (_BLO,), "LD", SPRING),
    ProductType(259, "Shirt", _UPPER, (_SHI, _BLO), "LDMK", None),
    ProductType(260, "Hoodie", _UPPER, (_JF, _JB), "LDMKS", AUTUMN),
    ProductType(261, "Polo shirt", _UPPER, (_JB,), "MK", SUMMER),
    ProductType(262, "Jacket", _UPPER, (_OUT,), "LDMKS", AUTUMN),
    ProductType(263, "Coat", _UPPER, (_OUT,), "LDMK", WINTER),
    ProductType(264, "Blazer", _UPPER, (_DRS,), "LDM", SPRING),
    ProductType(265, "Waistcoat", _UPPER, (_DRS, _KN), "LM", None),
    ProductType(266, "Tailored waistcoat", _UPPER, (_DRS,), "M", None),
    ProductType(267, "Sweatshirt", _UPPER, (_JF, _JB), "LDMKS", AUTUMN),
    ProductType(268, "Turtleneck", _UPPER, (_KN, _JB), "LDM", WINTER),
    ProductType(269, "Crop top", _UPPER, (_JF,), "DS", SUMMER),
    ProductType(270, "Tank top", _UPPER, (_JB,), "DMS", SUMMER),
    ProductType(271, "Fleece top", _UPPER, (_JF, _OUT), "MKS", WINTER),
    ProductType(272, "Outdoor waistcoat", _UPPER, (_OUT,), "LMK", WINTER),
    ProductType(273, "Tunic", _UPPER, (_BLO, _JF), "LK", SPRING),
    ProductType(274, "Kimono", _UPPER, (_BLO,), "LD", SUMMER),
    ProductType(275, "Parka", _UPPER, (_OUT,), "LDMK", WINTER),
    ProductType(276, "Puffer jacket", _UPPER, (_OUT,), "LDMK", WINTER),
    ProductType(277, "Sports bra", _UPPER, (_JF,), "S", None),
    ProductType(278, "Sports top", _UPPER, (_JF,), "S", None),
    ProductType(279, "Rain jacket", _UPPER, (_OUT,), "LMKS", SPRING),
    ProductType(280, "Overshirt", _UPPER, (_SHI,), "M", AUTUMN),
    ProductType(281, "Knitted vest", _UPPER, (_KN,), "LD", AUTUMN),
    ProductType(282, "Bolero", _UPPER, (_KN, _JF), "K", None),
    ProductType(301, "Trousers", _LOWER, (_TRO, _DRS), "LDMKS", None),
    ProductType(302, "Jeans", _LOWER, (_DEN,), "LDMK", None),
    ProductType(303, "Shorts", _LOWER, (_SHT, _DEN), "LDMKS", SUMMER),
    ProductType(304, "Skirt", _LOWER, (_SKI, _DRG), "LDK", SUMMER),
    ProductType(305, "Leggings/Tights", _LOWER, (_JB, _JF), "LDKS", None),
    ProductType(306, "Joggers", _LOWER, (_JF, _TRO), "DMKS", AUTUMN),
    ProductType(307, "Outdoor trousers", _LOWER, (_OUT,), "MKS", WINTER),
    ProductType(308, "Chinos", _LOWER, (_TRO,), "M", SPRING),
    ProductType(309, "Cargo trousers", _LOWER, (_TRO,), "DMK", None),
    ProductType(310, "Suit trousers", _LOWER, (_DRS,), "LM", None),
    ProductType(311, "Culottes", _LOWER, (_TRO,), "L", SUMMER),
    ProductType(312, "Sports shorts", _LOWER, (_SHT,), "S", SUMMER),
    ProductType(313, "Sports tights", _LOWER, (_JF,), "S", None),
    ProductType(314, "Denim shorts", _LOWER, (_DEN, _SHT), "LDK", SUMMER),
    ProductType(315, "Bike shorts", _LOWER, (_JB,), "DS", SUMMER),
    ProductType(330, "Dress", _FULL, (_DRL, _JF, _DRG), "LDK", SUMMER),
    ProductType(331, "Jumpsuit/Playsuit", _FULL, (_DRL, _JF), "LDK", SUMMER),
    ProductType(332, "Dungarees", _FULL, (_DEN, _BABY), "LDK", None),
    ProductType(333, "Garment Set", _FULL, (_BABY, _JB), "K", None),
    ProductType(334, "Costumes", _FULL, (_BABY, _JF), "K", AUTUMN),
    ProductType(335, "Outdoor overall", _FULL, (_OUT,), "K", WINTER),
    ProductType(336, "Suit", _FULL, (_DRS,), "M", SPRING),
    ProductType(337, "Romper", _FULL, (_BABY,), "K", None),
    ProductType(338, "Sleep bag", _FULL, (_BABY,), "K", None),
    ProductType(339, "Kaftan", _FULL, (_BLO, _SWI), "L", SUMMER),
    ProductType(340, "Maxi dress", _FULL, (_DRL,), "LD", SUMMER),
    ProductType(341, "Sports dress", _FULL, (_JF,), "S", SUMMER),
    ProductType(342, "Tracksuit", _FULL, (_JF,), "KS", None),
    ProductType(286, "Underwear bottom", _UNDER, (_UND,), "LDMK", None),
    ProductType(287, "Bra", _UNDER, (_UND,), "LD", None),
    ProductType(288, "Underwear body", _UNDER, (_UND,), "LK", None),
    ProductType(289, "Underwear Tights", _SOCKS, (_SOC,), "LDK", WINTER),
    ProductType(290, "Long John", _UNDER, (_UND,), "MK", WINTER),
    ProductType(291, "Boxer briefs", _UNDER, (_UND,), "MK", None),
    ProductType(292, "Underwear set", _UNDER, (_UND,), "LK", None),
    ProductType(293, "Bralette", _UNDER, (_UND,), "LD", None),
    ProductType(294, "Shapewear", _UNDER, (_UND,), "L", None),
    ProductType(295, "Socks", _SOCKS, (_SOC,), "LDMKS", WINTER),
    ProductType(296, "Tights", _SOCKS, (_SOC,), "LDK", WINTER),
    ProductType(297, "Leg warmers", _SOCKS, (_SOC,), "DK", WINTER),
    ProductType(320, "Pyjama set", _NIGHT, (_UND,), "LMK", WINTER),
    ProductType(321, "Pyjama bottom", _NIGHT, (_UND,), "LM", None),
    ProductType(322, "Pyjama jumpsuit/playsuit", _NIGHT, (_UND, _BABY), "LK", WINTER),
    ProductType(323, "Night gown", _NIGHT, (_UND,), "L", None),
    ProductType(324, "Robe", _NIGHT, (_UND,), "LM", WINTER),
    ProductType(350, "Swimsuit", _SWIM, (_SWI,), "LKS", SUMMER),
    ProductType(351, "Bikini top", _SWIM, (_SWI,), "LD", SUMMER),
    ProductType(352, "Swimwear bottom", _SWIM, (_SWI,), "LDK", SUMMER),
    ProductType(353, "Swimwear set", _SWIM, (_SWI,), "K", SUMMER),
    ProductType(354, "Swim shorts", _SWIM, (_SWI, _SHT), "MK", SUMMER),
    ProductType(355, "Sarong", _SWIM, (_SWI, _ACC), "L", SUMMER),
    ProductType(360, "Sneakers", _SHOES, (_SHO,), "LDMKS", SPRING),
    ProductType(361, "Boots", _SHOES, (_SHO,), "LDMK", WINTER),
    ProductType(362, "Sandals", _SHOES, (_SHO,), "LDK", SUMMER),
    ProductType(363, "Ballerinas", _SHOES, (_SHO,), "LK", SPRING),
    ProductType(364, "Flat shoe", _SHOES, (_SHO,), "LDM", None),
    ProductType(365, "Heeled sandals", _SHOES, (_SHO,), "LD", SUMMER),
    ProductType(366, "Pumps", _SHOES, (_SHO,), "L", None),
    ProductType(367, "Slippers", _SHOES, (_SHO,), "LMK", WINTER),
    ProductType(368, "Flip flop", _SHOES, (_SHO,), "LDMK", SUMMER),
    ProductType(369, "Wedge", _SHOES, (_SHO,), "L", SUMMER),
    ProductType(370, "Other shoe", _SHOES, (_SHO,), "LDMKS", None),
    ProductType(380, "Hat/beanie", _ACCS, (_ACC,), "LDMKS", WINTER),
    ProductType(381, "Cap/peaked", _ACCS, (_ACC,), "DMKS", SUMMER),
    ProductType(382, "Hat/brim", _ACCS, (_ACC,), "LDMK", SUMMER),
    ProductType(383, "Scarf", _ACCS, (_ACC,), "LDMK", WINTER),
    ProductType(384, "Gloves", _ACCS, (_ACC,), "LDMKS", WINTER),
    ProductType(385, "Belt", _ACCS, (_ACC,), "LDM", None),
    ProductType(386, "Sunglasses", _ACCS, (_ACC,), "LDM", SUMMER),
    ProductType(387, "Earring", _ACCS, (_ACC,), "LD", None),
    ProductType(388, "Necklace", _ACCS, (_ACC,), "LD", None),
    ProductType(389, "Ring", _ACCS, (_ACC,), "LD", None),
    ProductType(390, "Bracelet", _ACCS, (_ACC,), "LD", None),
    ProductType(391, "Hair clip", _ACCS, (_ACC,), "LDK", None),
    ProductType(392, "Hair/alice band", _ACCS, (_ACC,), "LDK", None),
    ProductType(393, "Hair string", _ACCS, (_ACC,), "LDK", None),
    ProductType(394, "Hair ties", _ACCS, (_ACC,), "LDKS", None),
    ProductType(395, "Tie", _ACCS, (_ACC,), "M", None),
    ProductType(396, "Watch", _ACCS, (_ACC,), "LM", None),
    ProductType(397, "Wallet", _ACCS, (_ACC,), "LDM", None),
    ProductType(398, "Umbrella", _ACCS, (_ACC,), "LM", AUTUMN),
    ProductType(399, "Headband", _ACCS, (_ACC,), "DKS", None),
    ProductType(400, "Bucket hat", _ACCS, (_ACC,), "DMK", SUMMER),
    ProductType(401, "Beanie", _ACCS, (_ACC,), "DMK", WINTER),
    ProductType(402, "Dog wear", _ACCS, (_ACC,), "L", None),
    ProductType(403, "Keychain", _ACCS, (_ACC,), "DK", None),
    ProductType(404, "Baby bib", _ACCS, (_BABY, _ACC), "K", None),
    ProductType(405, "Soft toys", _ITEMS, (_ACC,), "K", WINTER),
    ProductType(406, "Bag", _BAGS, (_ACC,), "LDMK", None),
    ProductType(407, "Backpack", _BAGS, (_ACC,), "DMKS", AUTUMN),
    ProductType(408, "Tote bag", _BAGS, (_ACC,), "LD", SUMMER),
    ProductType(409, "Cross-body bag", _BAGS, (_ACC,), "LD", None),
    ProductType(410, "Weekend/Gym bag", _BAGS, (_ACC,), "MS", None),
    ProductType(411, "Water bottle", _ITEMS, (_ACC,), "S", None),
    ProductType(412, "Yoga mat", _ITEMS, (_ACC,), "S", None),
    ProductType(413, "Side table", _ITEMS, (_UNK,), "L", None),
    ProductType(414, "Lipstick", _COSM, (_ACC,), "LD", None),
    ProductType(415, "Nail polish", _COSM, (_ACC,), "LD", None),
    ProductType(416, "Face mask", _ITEMS, (_ACC,), "LDMK", None),
    ProductType(417, "Gift box", _ITEMS, (_OFF,), "LDMK", WINTER),
    ProductType(418, "Mobile case", _ITEMS, (_ACC,), "D", None),
    ProductType(419, "Giftcard", _OTHER, (_UNK,), "LDMK", WINTER),
)
PRODUCT_TYPE_BY_NO = {product_type.product_type_no: product_type for product_type in PRODUCT_TYPES}

# Perceived colour values and masters: (id, name).
_DARK, _DUSTY_LIGHT, _LIGHT, _MEDIUM_DUSTY, _BRIGHT, _MEDIUM, _UNDEFINED_VALUE = (
    (4, "Dark"), (2, "Dusty Light"), (3, "Light"), (7, "Medium Dusty"), (5, "Bright"),
    (1, "Medium"), (-1, "undefined"),
)
_BLACK, _WHITE, _BLUE, _BEIGE, _GREY, _PINK, _RED, _GREEN, _KHAKI = (
    (5, "Black"), (9, "White"), (2, "Blue"), (11, "Beige"), (12, "Grey"), (4, "Pink"), (18, "Red"),
    (19, "Green"), (20, "Khaki green"),
)
_ORANGE, _YELLOW, _BROWN, _TURQUOISE, _LILAC, _METAL, _MOLE, _UNDEFINED_MASTER = (
    (3, "Orange"), (8, "Yellow"), (13, "Brown"), (7, "Turquoise"), (6, "Lilac Purple"),
    (15, "Metal"), (14, "Mole"), (-1, "undefined"),
)


def _colour(code: int, name: str, value: tuple[int, str], master: tuple[int, str]) -> ColourGroup:
    return ColourGroup(code, name, value[0], value[1], master[0], master[1])


COLOUR_GROUPS = (
    _colour(9, "Black", _DARK, _BLACK),
    _colour(10, "White", _LIGHT, _WHITE),
    _colour(11, "Off White", _DUSTY_LIGHT, _WHITE),
    _colour(12, "Light Beige", _DUSTY_LIGHT, _BEIGE),
    _colour(13, "Beige", _MEDIUM_DUSTY, _BEIGE),
    _colour(14, "Greige", _MEDIUM_DUSTY, _MOLE),
    _colour(15, "Dark Beige", _DARK, _BEIGE),
    _colour(6, "Light Grey", _LIGHT, _GREY),
    _colour(7, "Grey", _MEDIUM_DUSTY, _GREY),
    _colour(8, "Dark Grey", _DARK, _GREY),
    _colour(3, "Silver", _LIGHT, _METAL),
    _colour(5, "Gold", _MEDIUM, _METAL),
    _colour(19, "Yellowish Brown", _MEDIUM_DUSTY, _BROWN),
    _colour(20, "Light Orange", _LIGHT, _ORANGE),
    _colour(22, "Orange", _BRIGHT, _ORANGE),
    _colour(23, "Dark Orange", _DARK, _ORANGE),
    _colour(31, "Light Yellow", _LIGHT, _YELLOW),
    _colour(32, "Yellow", _BRIGHT, _YELLOW),
    _colour(33, "Dark Yellow", _MEDIUM_DUSTY, _YELLOW),
    _colour(41, "Light Red", _LIGHT, _RED),
    _colour(42, "Red", _BRIGHT, _RED),
    _colour(43, "Dark Red", _DARK, _RED),
    _colour(51, "Light Pink", _LIGHT, _PINK),
    _colour(52, "Pink", _MEDIUM_DUSTY, _PINK),
    _colour(53, "Dark Pink", _DARK, _PINK),
    _colour(61, "Light Purple", _LIGHT, _LILAC),
    _colour(62, "Purple", _MEDIUM, _LILAC),
    _colour(63, "Dark Purple", _DARK, _LILAC),
    _colour(71, "Light Blue", _LIGHT, _BLUE),
    _colour(72, "Blue", _BRIGHT, _BLUE),
    _colour(73, "Dark Blue", _DARK, _BLUE),
    _colour(74, "Other Blue", _MEDIUM, _BLUE),
    _colour(81, "Light Turquoise", _LIGHT, _TURQUOISE),
    _colour(82, "Turquoise", _BRIGHT, _TURQUOISE),
    _colour(83, "Dark Turquoise", _DARK, _TURQUOISE),
    _colour(91, "Light Green", _LIGHT, _GREEN),
    _colour(92, "Green", _MEDIUM, _GREEN),
    _colour(93, "Dark Green", _DARK, _GREEN),
    _colour(94, "Khaki Green", _MEDIUM_DUSTY, _KHAKI),
    _colour(95, "Olive", _DARK, _KHAKI),
    _colour(17, "Brown", _MEDIUM_DUSTY, _BROWN),
    _colour(18, "Dark Brown", _DARK, _BROWN),
    _colour(25, "Other Orange", _MEDIUM, _ORANGE),
    _colour(50, "Other Pink", _MEDIUM, _PINK),
    _colour(1, "Other", _UNDEFINED_VALUE, _UNDEFINED_MASTER),
    _colour(-1, "Unknown", _UNDEFINED_VALUE, _UNDEFINED_MASTER),
)
# Common colours dominate a fashion assortment; black, white and dark blue most of all.
COLOUR_POPULARITY = {9: 8.0, 10: 5.0, 73: 4.0, 7: 2.0, 8: 2.0, 13: 2.0, 12: 2.0, 6: 2.0, 72: 1.5,
                     52: 1.5, 51: 1.5, 17: 1.2, 42: 1.2, 94: 1.0, 11: 1.5, 71: 1.5}
COLOUR_BY_CODE = {colour.colour_group_code: colour for colour in COLOUR_GROUPS}

GRAPHICAL_APPEARANCES = tuple(
    GraphicalAppearance(1010001 + position, name)
    for position, name in enumerate((
        "Solid", "All over pattern", "Melange", "Stripe", "Denim", "Front print", "Placement print",
        "Check", "Lace", "Embroidery", "Dot", "Jacquard", "Glittering/Metallic", "Colour blocking",
        "Mixed solid/pattern", "Application/3D", "Sequin", "Treatment", "Other structure",
        "Other pattern", "Chambray", "Contrast", "Slub", "Argyle", "Transparent", "Mesh", "Neps",
        "Hologram", "Metallic", "Unknown",
    ))
)
# Solid garments are the bulk of an assortment; the long tail of patterns is rare.
GRAPHICAL_APPEARANCE_WEIGHTS = (
    20.0, 6.0, 4.0, 4.0, 2.5, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0, 0.8, 0.6, 0.8, 0.6, 0.5, 0.5,
    0.6, 0.6, 0.3, 0.3, 0.3, 0.2, 0.3, 0.3, 0.2, 0.1, 0.2, 0.1,
)

# Which sections of each audience carry which garment groups (the department grid).
_SECTIONS_BY_GARMENT_GROUP_AND_AUDIENCE: dict[str, dict[int, tuple[int, ...]]] = {
    LADIES: {_JB: (2, 4), _JF: (4, 8), _KN: (2, 10), _OUT: (6, 10), _DRS: (6,), _TRO: (2, 6),
             _BLO: (4, 8, 10), _SHI: (6,), _SKI: (4, 8), _DRL: (4, 8, 10), _DEN: (12,),
             _UND: (14, 16), _SWI: (18,), _ACC: (20, 22), _SHO: (24,), _SOC: (16,), _SHT: (4, 12),
             _OFF: (20,), _UNK: (22,), _DRG: (4,), _BABY: (2,)},
    DIVIDED: {_JB: (32,), _JF: (30, 34), _KN: (30,), _OUT: (30,), _DRS: (38,), _TRO: (30, 32),
              _BLO: (30, 38), _SHI: (30,), _SKI: (30,), _DRL: (30, 38), _DEN: (32,), _UND: (32,),
              _SWI: (34,), _ACC: (36,), _SHO: (36,), _SOC: (36,), _SHT: (32,), _OFF: (36,),
              _UNK: (36,), _DRG: (30,), _BABY: (32,)},
    MENS: {_JB: (50,), _JF: (50,), _KN: (50,), _OUT: (50, 52), _DRS: (52,), _TRO: (50, 52),
           _BLO: (52,), _SHI: (50, 52), _DEN: (60,), _UND: (54,), _SWI: (54,), _ACC: (56,),
           _SHO: (58,), _SOC: (54,), _SHT: (50,), _OFF: (56,), _UNK: (56,), _BABY: (50,)},
    KIDS: {_JB: (70, 76, 78), _JF: (72, 76, 80), _KN: (70, 78), _OUT: (74, 78, 82), _DRS: (82,),
           _TRO: (76, 78, 82), _BLO: (76, 80), _SHI: (78, 82), _SKI: (80,), _DRL: (80,),
           _DRG: (72, 76, 80), _DEN: (78, 80, 82), _UND: (70, 76), _SWI: (84,), _ACC: (84,),
           _SHO: (84,), _SOC: (70, 84), _SHT: (76, 78), _OFF: (84,), _UNK: (84,),
           _BABY: (70, 72, 74)},
    SPORT: {_JB: (40, 42), _JF: (40, 42, 44), _KN: (40,), _OUT: (40, 42), _TRO: (42,),
            _SHT: (40, 42, 44), _SWI: (40,), _ACC: (40, 42), _SHO: (40, 42), _SOC: (40,),
            _UND: (40,), _DRL: (40,), _UNK: (42,), _OFF: (44,), _DEN: (44,), _SKI: (40,),
            _BLO: (40,), _SHI: (42,), _DRS: (42,), _DRG: (44,), _BABY: (44,)},
}


def _build_departments() -> tuple[Department, ...]:
    """One department per (section, garment group) cell of the grid, numbered like H&M's
    four-digit department numbers (section in the high digits, garment group in the low)."""
    departments = []
    cells = sorted(
        {(section_no, garment_group_no)
         for by_group in _SECTIONS_BY_GARMENT_GROUP_AND_AUDIENCE.values()
         for garment_group_no, section_nos in by_group.items()
         for section_no in section_nos}
    )
    for section_no, garment_group_no in cells:
        section_words = SECTION_BY_NO[section_no].section_name.split()[0].rstrip(",")
        garment_name = GARMENT_GROUP_BY_NO[garment_group_no].garment_group_name
        departments.append(Department(
            department_no=section_no * 100 + (garment_group_no - 1000),
            department_name=f"{section_words} {garment_name}",
            section_no=section_no,
            garment_group_no=garment_group_no,
        ))
    return tuple(departments)


DEPARTMENTS = _build_departments()
DEPARTMENT_BY_CELL = {(d.section_no, d.garment_group_no): d for d in DEPARTMENTS}


def sections_for(audience: str, garment_group_no: int) -> tuple[int, ...]:
    """Sections of an audience that sell a garment group (empty when none does)."""
    return _SECTIONS_BY_GARMENT_GROUP_AND_AUDIENCE[audience].get(garment_group_no, ())
