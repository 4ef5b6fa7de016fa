"""Address lines as each partner writes them: tidy for the council, mixed for health, terse for police.

Each property is rendered once per style (a few per partner), then rows pick a style; so the
per-value Python runs over properties x styles, not over rows. Variants that the normaliser must
forgive: case, commas and full stops, street-type abbreviations (Rd, St, Ave ...), flat
notations (Flat 2, Apartment 2, 2/14, 14A, a trailing ", Flat 2"), a town or postcode after the
street. ``flat_omitted_rate`` of flat rows drop the flat (as real records do): those rows name
a building, not a home.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ptp_pipeline.synthetic.households import Addresses

SHORT = {"Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Grove": "Gr", "Terrace": "Ter",
         "Crescent": "Cres", "Drive": "Dr", "Close": "Cl", "Place": "Pl", "Mount": "Mt", "Gardens": "Gdns",
         "Square": "Sq", "Court": "Ct"}
STYLES = ("tidy", "upper_short", "slash", "apartment_town_postcode", "flat_last", "lower", "building_only")
PARTNER_STYLE_P: dict[str, tuple[float, ...]] = {
    "council": (0.90, 0.0, 0.0, 0.0, 0.05, 0.05, 0.0),
    "health": (0.30, 0.20, 0.10, 0.25, 0.05, 0.10, 0.0),
    "police": (0.0, 0.55, 0.40, 0.0, 0.0, 0.05, 0.0),
}


def _short(street: str) -> str:
    root, _, kind = street.rpartition(" ")
    return f"{root} {SHORT.get(kind, kind)}" if root else street


def _render(flat: str, number: str, street: str, postcode: str, style: str) -> str:
    named = not number[:1].isdigit()
    if style == "building_only" or not flat:
        base = f"{number}, {street}" if named else f"{number} {street}"
        if style == "upper_short":
            return (f"{number}, {_short(street)}" if named else f"{number} {_short(street)}").upper()
        if style == "lower":
            return base.lower()
        if style == "apartment_town_postcode":
            return f"{base}, Leeds {postcode}"
        if style == "slash":
            return f"{base}, Leeds".upper()
        return base
    letter = flat.isalpha()
    if style == "tidy":
        return f"{number}{flat} {street}" if letter else f"Flat {flat}, {number} {street}"
    if style == "upper_short":
        return f"FLAT {flat} {number} {_short(street)}".upper()
    if style == "slash":
        return f"{number}{flat} {_short(street)}".upper() if letter else f"{flat}/{number} {_short(street)}".upper()
    if style == "apartment_town_postcode":
        return f"Apartment {flat}, {number} {street}, Leeds {postcode}"
    if style == "flat_last":
        return f"{number} {street}, Flat {flat}"
    return f"flat {flat}, {number} {street.lower()}."


def address_lines(addresses: Addresses, address: NDArray[np.int64], partner: str, flat_omitted_rate: float,
                  rng: np.random.Generator) -> NDArray[np.object_]:
    """The address line of each row (``address`` = property per row) in ``partner``'s habits."""
    used, codes = np.unique(address, return_inverse=True)
    table = np.array([[_render(str(addresses.flat[a]), str(addresses.number[a]), str(addresses.street[a]),
                               str(addresses.postcode[a]), style) for a in used] for style in STYLES], dtype=object)
    style = rng.choice(len(STYLES), address.size, p=PARTNER_STYLE_P[partner])
    style[rng.random(address.size) < flat_omitted_rate] = STYLES.index("building_only")
    out: NDArray[np.object_] = table[style, codes]
    return out
