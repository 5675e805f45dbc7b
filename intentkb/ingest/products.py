"""Products: Amazon-M2 `products` (CSV/parquet) and the Amazon catalogue CSV of shared/data."""

from __future__ import annotations

from dataclasses import dataclass, field

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any


from ..kb.ids import product_id
from ..kb.models import Attribute, Product, clean_text
from ..kb.store import GraphStore, PreparedWrite
from .base import Reader, attribute, attribute_rows, parse_price, plan_rows
from .sources import Record, csv_records, table_records


@dataclass
class ProductUnit:
    """A validated unit of work (its parts are pydantic models already; no second validation)."""

    product: Product
    attributes: list[Attribute] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        props = self.product.props()
        props.pop("id")
        return {"id": self.product.id, "props": props, "attributes": attribute_rows(self.attributes)}


def plan_products(store: GraphStore, units: list[ProductUnit]) -> list[PreparedWrite]:
    return plan_rows(store, "ingest_products", units)


def _catalogue_attributes(p: Product) -> list[Attribute]:
    pairs = [("brand", p.brand), ("color", p.color), ("size", p.size), ("material", p.material)]
    if p.category:
        pairs.append(("category", p.category.split("|")[-1].strip()))
    return [a for a in (attribute(n, v) for n, v in pairs) if a]


class _ProductsReader(Reader[ProductUnit]):
    kind = "products"
    query = "ingest_products"

    def key(self, unit: ProductUnit) -> str:
        return unit.product.id


class M2ProductsReader(_ProductsReader):
    """Amazon-M2 `products`: id, locale, title, price, brand, color, size, model, material, author, desc."""

    format = "m2"
    required = ("id", "title")

    def records(self, path: Path) -> Iterator[Record]:
        return table_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> ProductUnit:
        asin = clean_text(raw.get("id"))
        locale = clean_text(raw.get("locale"))
        if asin is None:
            raise ValueError("id: must not be empty")
        p = Product(
            id=product_id(asin, locale),
            asin=asin,
            locale=locale.upper() if locale else None,
            title=raw.get("title"),
            price=parse_price(raw.get("price")),
            brand=raw.get("brand"),
            color=raw.get("color"),
            size=raw.get("size"),
            model=raw.get("model"),
            material=raw.get("material"),
            author=raw.get("author"),
            desc=raw.get("desc"),
            source="amazon-m2",
        )
        return ProductUnit(product=p, attributes=_catalogue_attributes(p))


_ASIN_IN_URL = re.compile(r"/(?:dp|gp/product)/([A-Z0-9]{10})(?:[/?]|$)")


class CatalogueReader(_ProductsReader):
    """The Amazon product catalogue CSV (`Product Name`, `Category`, `Selling Price`, `Product Url`…)."""

    format = "catalog"
    required = ("Product Name", "Product Url")

    def records(self, path: Path) -> Iterator[Record]:
        return csv_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> ProductUnit:
        asin = clean_text(raw.get("Asin"))
        url = clean_text(raw.get("Product Url"))
        if not asin and url:
            m = _ASIN_IN_URL.search(url)
            asin = m.group(1) if m else None
        if not asin:
            raise ValueError("no ASIN: empty `Asin` and none in `Product Url`")
        desc = "\n".join(x for x in (clean_text(raw.get("About Product")), clean_text(raw.get("Product Description"))) if x)
        images = [u for u in (raw.get("Image") or "").split("|") if u.strip().startswith("http")]
        p = Product(
            id=product_id(asin),
            asin=asin,
            title=raw.get("Product Name"),
            brand=raw.get("Brand Name"),
            color=raw.get("Color"),
            model=raw.get("Model Number"),
            price=parse_price(raw.get("Selling Price") or raw.get("List Price")),
            category=raw.get("Category"),
            desc=desc or None,
            image_urls=images or None,
            url=url,
            source="amazon-catalogue",
        )
        return ProductUnit(product=p, attributes=_catalogue_attributes(p))
