"""Products: Amazon-M2 `products` (CSV/parquet) and the Amazon catalogue CSV of shared/data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from ..io.sources import Record, csv_records, table_records
from ..kb.ids import product_id
from ..kb.models import Attribute, Product
from ..kb.store import GraphStore, PreparedWrite
from .base import Reader, attribute, attribute_rows, plan_rows
from .fields import Key, Locale, Price, RawKey, RawRow, RawText


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


class M2ProductRow(RawRow):
    id: Key
    locale: Locale = None
    title: RawText = None
    price: Price = None
    brand: RawText = None
    color: RawText = None
    size: RawText = None
    model: RawText = None
    material: RawText = None
    author: RawText = None
    desc: RawText = None


class M2ProductsReader(_ProductsReader):
    """Amazon-M2 `products`: id, locale, title, price, brand, color, size, model, material, author, desc."""

    format = "m2"
    required = ("id", "title")

    def records(self, path: Path) -> Iterator[Record]:
        return table_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> ProductUnit:
        r = M2ProductRow.model_validate(raw)
        p = Product(
            id=product_id(r.id, r.locale),
            asin=r.id,
            locale=r.locale,
            title=r.title,
            price=r.price,
            brand=r.brand,
            color=r.color,
            size=r.size,
            model=r.model,
            material=r.material,
            author=r.author,
            desc=r.desc,
            source="amazon-m2",
        )
        return ProductUnit(product=p, attributes=_catalogue_attributes(p))


_ASIN_IN_URL = re.compile(r"/(?:dp|gp/product)/([A-Z0-9]{10})(?:[/?]|$)")


class CatalogueRow(RawRow):
    asin: RawKey = Field(default=None, alias="Asin")
    name: RawText = Field(default=None, alias="Product Name")
    url: RawText = Field(default=None, alias="Product Url")
    about: RawText = Field(default=None, alias="About Product")
    description: RawText = Field(default=None, alias="Product Description")
    image: RawText = Field(default=None, alias="Image")
    brand: RawText = Field(default=None, alias="Brand Name")
    color: RawText = Field(default=None, alias="Color")
    model: RawText = Field(default=None, alias="Model Number")
    selling_price: Price = Field(default=None, alias="Selling Price")
    list_price: Price = Field(default=None, alias="List Price")
    category: RawText = Field(default=None, alias="Category")


class CatalogueReader(_ProductsReader):
    """The Amazon product catalogue CSV (`Product Name`, `Category`, `Selling Price`, `Product Url`…)."""

    format = "catalog"
    required = ("Product Name", "Product Url")

    def records(self, path: Path) -> Iterator[Record]:
        return csv_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> ProductUnit:
        r = CatalogueRow.model_validate(raw)
        asin = r.asin
        if not asin and r.url:
            m = _ASIN_IN_URL.search(r.url)
            asin = m.group(1) if m else None
        if not asin:
            raise ValueError("no ASIN: empty `Asin` and none in `Product Url`")
        desc = "\n".join(x for x in (r.about, r.description) if x)
        images = [u.strip() for u in (r.image or "").split("|") if u.strip().startswith("http")]
        p = Product(
            id=product_id(asin),
            asin=asin,
            title=r.name,
            brand=r.brand,
            color=r.color,
            model=r.model,
            price=r.selling_price if r.selling_price is not None else r.list_price,
            category=r.category,
            desc=desc or None,
            image_urls=images or None,
            url=r.url,
            source="amazon-catalogue",
        )
        return ProductUnit(product=p, attributes=_catalogue_attributes(p))
