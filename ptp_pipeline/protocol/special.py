"""Spot special-category data (UK GDPR Article 9) in a protocol, so the flag cannot be forgotten.

A data officer may set `special_category: true`; the pipeline also infers it from the partner
(an NHS body shares health data by its nature) and from field names, descriptions and agreed
codes (`alcohol_related`, `diagnosis`, `ethnicity`, ...). Whenever either says yes, the protocol
must name an Article 9 condition. Matching is on word stems, so `drug_related` and `Diagnoses`
both count, while `sex` (not special category) does not match `sexual`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Article 9(1) categories and the word stems that suggest them.
CATEGORY_STEMS: dict[str, tuple[str, ...]] = {
    "health": ("health", "medical", "medic", "diagnos", "clinic", "alcohol", "drug", "substance", "mental",
               "disab", "pregnan", "prescri", "hospital", "patient", "symptom", "injur", "overdose",
               "ae", "gp", "icd", "snomed"),
    "racial or ethnic origin": ("ethnic", "race", "racial"),
    "religious or philosophical beliefs": ("religio", "faith", "belief"),
    "sex life or sexual orientation": ("sexual", "orientation", "gender_identity"),
    "genetic or biometric data": ("genetic", "biometric", "dna", "fingerprint"),
    "political opinions or trade union membership": ("political", "union"),
}
#: Stems in an organisation's name that mean it is a health body.
HEALTH_ORGANISATION = ("nhs", "hospital", "health", "clinical", "ambulance", "surgery", "medical")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def categories_in(texts: Iterable[str]) -> list[str]:
    """Article 9 categories suggested by any word in `texts` (names, descriptions, codes)."""
    words = {w for t in texts for w in _words(t)}
    found = []
    for category, stems in CATEGORY_STEMS.items():
        if any(w.startswith(s) if len(s) > 3 else w == s for w in words for s in stems):
            found.append(category)
    return found


def is_health_organisation(name: str) -> bool:
    return any(w.startswith(s) for w in _words(name) for s in HEALTH_ORGANISATION)
