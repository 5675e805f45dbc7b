"""Purchase intentions of single products (EcomScriptBench's product → intention records).

One row names a product and one intention a customer had in buying it, as JSON Lines or CSV:
`product` (or `asin`, `product_id`, `item_id`), `intention` (or `text`), and optionally `title`,
`locale`, `model`, `prompt_version`. The product is merged (a title fills in products not in the
catalogue), the intention gets a content id, and `(Intention)-[:EXPLAINS {role: 'p'}]->(Product)`
links them, so retrieval can walk from an intention to what it explains.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.sources import Record, base_suffix, jsonl_records, table_records
from ..kb.ids import product_id, purchase_intention_id
from ..kb.models import Intention, Product, clean_text
from .base import Reader
from .fields import Locale, RawRow, RawText, read_key, read_text

_PRODUCT_KEYS = ("product", "asin", "product_id", "item_id")
_TEXT_KEYS = ("intention", "text")


def _first(raw: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = raw.get(k)
        if v is not None and (not isinstance(v, str) or clean_text(v) is not None):
            return v
    return None


@dataclass
class PurchaseUnit:
    product: Product
    intention: Intention

    def row(self) -> dict[str, Any]:
        p, i = self.product.props(), self.intention.props()
        return {"product": {"id": p.pop("id"), "props": p}, "intention": {"id": i.pop("id"), "props": i}}


class PurchaseIntentionsReader(Reader[PurchaseUnit]):
    kind = "intentions"
    format = "purchase"
    required = ()
    query = "ingest_purchase_intentions"
    shared_nodes = ("product",)

    def records(self, path: Path) -> Iterator[Record]:
        if base_suffix(path) in (".jsonl", ".json"):
            return jsonl_records(path, self.required)
        return table_records(path, self.required)

    def convert(self, raw: Any) -> PurchaseUnit:
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        asin = read_key(_first(raw, _PRODUCT_KEYS))
        if asin is None:
            raise ValueError(f"product: missing (one of {', '.join(_PRODUCT_KEYS)})")
        text = read_text(_first(raw, _TEXT_KEYS))
        if text is None:
            raise ValueError(f"intention: missing (one of {', '.join(_TEXT_KEYS)})")
        r = PurchaseRow.model_validate(raw)
        pid = product_id(asin, r.locale)
        product = Product(id=pid, asin=asin, locale=r.locale, title=r.title)
        intention = Intention(
            id=purchase_intention_id(pid, text), text=text, kind="purchase", model=r.model, prompt_version=r.prompt_version, source=r.source or "purchase"
        )
        return PurchaseUnit(product=product, intention=intention)


class PurchaseRow(RawRow):
    title: RawText = None
    locale: Locale = None
    model: RawText = None
    prompt_version: RawText = None
    source: RawText = None
