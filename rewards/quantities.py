r"""Words around a number in a final answer: which ones name a unit, which scale the value, which change or deny it.

The rule (used by ``rewards.normalize``): text after a number is read word by word.
- **Magnitude words** scale the value: ``5 thousand`` is 5000, ``3.5 million`` is 3500000, ``2 dozen`` is 24.
- **Units** (a vocabulary with synonyms: ``min``/``minute``/``minutes``) are dropped from the value and kept aside:
  two answers agree only when their units agree or one of them has none. ``12 hours`` is not ``12 minutes``.
- **Labels** (other plain nouns: ``72 clips``) are treated like units: dropped, and compared when both sides have one.
- **Everything else makes the answer no value**: operator words (``squared``, ``times``, ``minus``, ``over``), hedges
  and denials (``at most``, ``or more``, ``maybe``, ``is incorrect``, ``not``), fraction words (``halves``), verbs
  and function words. ``5 squared`` is not 5, and neither is ``5 is incorrect``.
Words before a number follow the same lists: ``at most 5``, ``not 5`` and ``about 5`` are no value.

>>> read_tail("thousand"), read_tail("Minutes"), read_tail("is incorrect")
(('scale', 1000), ('unit', 'minute'), ('refuse', None))
"""

from __future__ import annotations

import re

MAGNITUDES = {
    "hundred": 100,
    "hundreds": 100,
    "thousand": 1000,
    "thousands": 1000,
    "k": 1000,
    "million": 10**6,
    "millions": 10**6,  # not "m": metres or millions is ambiguous, so it is a unit (see UNITS)
    "billion": 10**9,
    "billions": 10**9,
    "bn": 10**9,
    "trillion": 10**12,
    "trillions": 10**12,
    "dozen": 12,
    "dozens": 12,
    "score": 20,
    "gross": 144,
}

# canonical unit: its spellings (singular, plural, abbreviations); "%" and "percent" are handled as percent signs
_UNIT_SPELLINGS = {
    "millimetre": "mm millimeter millimeters millimetre millimetres",
    "centimetre": "cm centimeter centimeters centimetre centimetres",
    "metre": "m meter meters metre metres",
    "kilometre": "km kilometer kilometers kilometre kilometres kms",
    "inch": "in inch inches",
    "foot": "ft foot feet",
    "yard": "yd yds yard yards",
    "mile": "mi mile miles",
    "milligram": "mg milligram milligrams",
    "gram": "g gram grams gm",
    "kilogram": "kg kgs kilogram kilograms kilo kilos",
    "tonne": "t ton tons tonne tonnes",
    "ounce": "oz ounce ounces",
    "pound": "lb lbs pound pounds",
    "millilitre": "ml milliliter milliliters millilitre millilitres",
    "litre": "l liter liters litre litres",
    "gallon": "gal gallon gallons",
    "quart": "qt quart quarts",
    "pint": "pt pint pints",
    "cup": "cup cups",
    "second": "s sec secs second seconds",
    "minute": "min mins minute minutes",
    "hour": "h hr hrs hour hours",
    "day": "d day days",
    "week": "wk wks week weeks",
    "month": "mo month months",
    "year": "yr yrs year years",
    "dollar": "dollar dollars usd bucks",
    "cent": "cent cents",
    "euro": "euro euros eur",
    "pound sterling": "gbp",
    "degree": "deg degree degrees",
    "radian": "rad radian radians",
    "unit": "unit units",
}
UNITS = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings.split()}
UNITS |= {"mph": "mile / hour", "kmh": "kilometre / hour", "kph": "kilometre / hour"}  # the same as "km/h"

# words that change the value or deny it, before or after a number
_REFUSE = set(
    """
    squared cubed square cube times plus minus over divided multiplied by to the power powers exponent root roots
    factorial reciprocal inverse negative positive half halves third thirds quarter quarters fourth fourths fifth
    fifths sixth sixths seventh sevenths eighth eighths ninth ninths tenth tenths hundredth hundredths thousandth
    thousandths fold twice double triple
    at most least more less fewer greater smaller larger bigger higher lower above below under over beyond upto up
    or and nor but than except between from not no never none neither without
    maybe perhaps probably possibly likely unlikely approximately approx about around roughly nearly almost circa
    estimated estimate guess
    is are was were be been isn't aren't wasn't weren't am wrong incorrect false untrue invalid correct right true
    if unless when then so because since which that this it answer answers
    """.split()
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def canonical_unit(word: str) -> str | None:
    return UNITS.get(word.lower())


def read_tail(tail: str) -> tuple[str, object]:
    """How text after a number reads: ('scale', factor), ('unit', canonical), ('label', noun) or ('refuse', None).

    Units may be raised to a power (``cm^2``) and combined with ``per``/``/`` (``km/h``, ``miles per hour``).
    """
    text = tail.strip().lower()
    if not text:
        return "unit", None
    text = re.sub(r"\s*\^\s*\{?\s*(\d)\s*\}?", r"^\1", text)
    words = re.findall(r"[a-z]+(?:'[a-z]+)?(?:\^\d)?|/|\S", text)
    if not words or len(words) > 4 or any(not _WORD.fullmatch(w.split("^")[0]) and w != "/" for w in words):
        return "refuse", None
    for i in range(len(words) - 1):  # "square feet" is feet^2, "cubic cm" is cm^3; "squared" alone is an operator
        if words[i] in ("square", "sq", "cubic") and words[i + 1] in UNITS:
            words[i + 1] += "^3" if words[i] == "cubic" else "^2"
            words[i] = ""
    words = [w for w in words if w]
    bare = [w.split("^")[0] for w in words]
    if len(bare) == 1 and bare[0] in MAGNITUDES:
        return "scale", MAGNITUDES[bare[0]]
    if any(w in _REFUSE or w in MAGNITUDES for w in bare if w != "per"):
        return "refuse", None
    units, rest = [], []
    for w, full in zip(bare, words, strict=True):
        if w in ("per", "/"):
            units.append("/")
        elif w in UNITS:
            units.append(UNITS[w] + full[len(w) :])
        else:
            rest.append(w)
    if not rest:
        return "unit", " ".join(units)
    if units or len(rest) > 2 or any(len(w) < 2 for w in rest):
        return "refuse", None
    return "label", " ".join(_singular(w) for w in rest)


def read_head(head: str) -> bool:
    """True when text before a number hedges, denies or operates on it (``at most``, ``not``, ``about``)."""
    return any(w.lower() in _REFUSE for w in _WORD.findall(head))


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ses") or word.endswith("xes") or word.endswith("ches") or word.endswith("shes"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word
