"""How a raw value from outside becomes a field, the same for every reader and format.

One rule: a value that cannot be read as what the field says is a reject with its reason, never a
guess. Text fields take text (an integer reads as its digits: ids and codes arrive as numbers from
parquet and JSON); a list, a map, a boolean or a fractional number where text is expected is a
reject; a float NaN (pandas' missing value) is missing; HTML entities in text become characters. Ids are normalised (NFKC, invisible format
characters such as zero-width spaces removed) and must look like ids, so `B0X` and `B0X\u200b` are one
product and `None`, `NaN` or `inf` never become one. Prices must read whole as a price.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..kb.models import clean_text
from ..kb.texts import unescape_html

_TOKEN = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")
_NULL_WORDS = frozenset({"nan", "none", "null", "nil", "na", "n/a", "inf", "-inf", "+inf", "infinity", "-infinity", "undefined"})


def read_text(v: Any) -> str | None:
    """Text, or None when missing, HTML entities replaced by their characters (scraped catalogues:
    `Melissa &amp; Doug`); ValueError when the value is not text."""
    if isinstance(v, str) and "&" in v:
        v = unescape_html(v)
    return _plain_text(v)


def _plain_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        t = v.strip()
        if t.isascii() and t.isprintable():
            return t or None  # printable ASCII holds no control character: no regex needed
        return clean_text(v)
    if isinstance(v, bool):
        raise ValueError(f"expected text, got a boolean ({v})")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer() and abs(v) < 2**53:
            return str(int(v))
        raise ValueError(f"expected text, got the number {v!r}")
    raise ValueError(f"expected text, got a {type(v).__name__}")


def read_key(v: Any) -> str | None:
    """An id: normalised, no invisible characters, no null word, id-shaped (entities stay as they are)."""
    text = _plain_text(v)
    if text is None:
        return None
    if text.isascii() and _TOKEN.match(text) and text.lower() not in _NULL_WORDS:
        return text  # the common case: NFKC leaves ASCII alone and it holds no format characters
    text = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf").strip()
    if not text:
        return None
    if text.lower() in _NULL_WORDS:
        raise ValueError(f"{text!r} is not an id (leave the field empty when it is unknown)")
    if not _TOKEN.match(text):
        raise ValueError(f"not an id: {text[:40]!r} (letters, digits, _ - : . only, at most 64)")
    return text


def _required(read: Any) -> Any:
    def check(v: Any) -> Any:
        out = read(v)
        if out is None:
            raise ValueError("must not be empty")
        return out

    return check


_CURRENCY = re.compile(r"^(?:[$€£¥₹]|US\$|[A-Z]{3}\b)?\s*(.*?)\s*(?:[$€£¥₹]|\b[A-Z]{3})?$")
_PLAIN = re.compile(r"^[+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?$")
_US_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_EU_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_EU_DECIMAL = re.compile(r"^\d+,\d{1,2}$")
_LEADING = re.compile(r"^(?:[$€£¥₹]|US\$|[A-Z]{3}\b)?\s*(\d[\d.,]*\d|\d)(?:\s+(\d{2})\b)?(?=\s|$)")
_RANGE = re.compile(r"^(.+?)\s*(?:-|–|to)\s*(.+)$")


def _amount(text: str) -> float | None:
    m = _CURRENCY.match(text.strip())
    num = (m.group(1) if m else text).strip().replace(" ", "").replace("\u00a0", "")
    if _PLAIN.match(num):
        return float(num)
    if _US_GROUPED.match(num):
        return float(num.replace(",", ""))
    if _EU_GROUPED.match(num):
        return float(num.replace(".", "").replace(",", "."))
    if _EU_DECIMAL.match(num):
        return float(num.replace(",", "."))
    return None


def read_price(v: Any) -> float | None:
    """'$237.68', '12,99', '1.234,56', '1e5', '$10.99 - $15.99' (lower bound), 19.5 → float;
    '' and a label with no digits ('Total price:') → None; anything else is a reject."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("price: expected a number, got a boolean")
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isnan(v):
            return None
        if not math.isfinite(v):
            raise ValueError("price: must be a finite number, not NaN or infinity")
        return float(v)
    if not isinstance(v, str):
        raise ValueError(f"price: expected a number, got a {type(v).__name__}")
    text = clean_text(v)
    if text is None:
        return None
    if text.lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        raise ValueError(f"price: must be a finite number, not {text!r}")
    if not any(ch.isdigit() for ch in text):
        return None  # a label with no amount ("Total price:") is a missing price, not a bad one
    value = _amount(text)
    if value is None and (m := _RANGE.match(text)):
        low, high = _amount(m.group(1)), _amount(m.group(2))
        value = low if low is not None and high is not None else None
    if value is None and (m := _LEADING.match(text)):
        # Scraped catalogue prices repeat themselves or trail page text ("$6.94 $ 6 . 94"), and
        # split the cents ("$ 19 99 $39.95 …"): the amount that opens the field is the price.
        whole, cents = m.group(1), m.group(2)
        value = float(f"{whole}.{cents}") if cents and whole.isdigit() else _amount(whole)
    if value is None:
        raise ValueError(f"price: not a price: {text[:40]!r}")
    if not math.isfinite(value):
        raise ValueError(f"price: {text[:40]!r} is too large")
    return value


def read_locale(v: Any) -> str | None:
    text = read_text(v)
    if text is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,4})?", text):
        raise ValueError(f"not a locale: {text[:20]!r} (e.g. UK, DE, en_US)")
    return text.upper()


def read_number(v: Any) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        raise ValueError("expected a number, got a boolean")
    try:
        value = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {str(v)[:30]!r}") from None
    if math.isnan(value) and not isinstance(v, str):
        return None
    if not math.isfinite(value):
        raise ValueError("must be a finite number, not NaN or infinity")
    return value


RawText = Annotated[str | None, BeforeValidator(read_text)]
RawKey = Annotated[str | None, BeforeValidator(read_key)]
Key = Annotated[str, BeforeValidator(_required(read_key))]
RequiredText = Annotated[str, BeforeValidator(_required(read_text))]
Price = Annotated[float | None, BeforeValidator(read_price)]
Locale = Annotated[str | None, BeforeValidator(read_locale)]
Number = Annotated[float | None, BeforeValidator(read_number)]


class RawRow(BaseModel):
    """A record as the source gives it: its columns by their own names, extra columns ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
