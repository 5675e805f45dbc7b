"""LLM settings from the environment (the OpenAI variables every compatible server understands)."""

from __future__ import annotations

import base64
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args, overload
from urllib.parse import unquote

from pydantic import BaseModel, Field, SecretStr, field_validator

from ..config import _env, env_choice
from ..private import redact

# USD per million (input, output) tokens of the chat completions API, for `--dry-run` estimates and
# run accounting. Prices change: INTENTKB_LLM_PRICE="in,out" overrides; unknown models cost 0.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5": (1.25, 10.00),
}

# Model names that take image parts when `multimodal` is "auto".
_VISION = re.compile(
    r"gpt-4o|gpt-4\.1|gpt-5|o[134]\b|o[134]-|vision|llava|-vl\b|-vl-|qwen2?\.?5?-?vl|pixtral|gemma-3|llama-?3\.2-.*vision|idefics|internvl|minicpm-v", re.I
)


def _float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


@overload
def _int(name: str, default: int) -> int: ...
@overload
def _int(name: str, default: None) -> int | None: ...
def _int(name: str, default: int | None) -> int | None:
    raw = _env(name)
    return int(raw) if raw else default


Multimodal = Literal["auto", "on", "off"]
MULTIMODAL: tuple[str, ...] = get_args(Multimodal)


class LLMSettings(BaseModel):
    """Which endpoint and model, how hard to push it, how to price it.

    The API key is a SecretStr: it is handed to the `openai` client and nowhere else (not to the
    cache key, run records, logs or the graph)."""

    api_key: SecretStr = Field(default_factory=lambda: SecretStr(_env("OPENAI_API_KEY", default="") or ""))
    base_url: str | None = Field(default_factory=lambda: _env("OPENAI_BASE_URL"))
    model: str = Field(default_factory=lambda: _env("INTENTKB_LLM_MODEL", default="gpt-4o-mini") or "gpt-4o-mini")
    concurrency: int = Field(default_factory=lambda: _int("INTENTKB_LLM_CONCURRENCY", 32), ge=1, le=4096)
    timeout: float = Field(default_factory=lambda: _float("INTENTKB_LLM_TIMEOUT", 120.0), gt=0)
    max_retries: int = Field(default_factory=lambda: _int("INTENTKB_LLM_RETRIES", 8), ge=0, le=100)
    backoff_base: float = Field(default_factory=lambda: _float("INTENTKB_LLM_BACKOFF", 1.0), ge=0)
    backoff_max: float = Field(default_factory=lambda: _float("INTENTKB_LLM_BACKOFF_MAX", 60.0), ge=0)
    temperature: float = Field(default_factory=lambda: _float("INTENTKB_LLM_TEMPERATURE", 0.0), ge=0, le=2)
    seed: int | None = Field(default_factory=lambda: _int("INTENTKB_LLM_SEED", None))  # None: no seed
    multimodal: Multimodal = Field(default_factory=lambda: env_choice("INTENTKB_LLM_MULTIMODAL", "auto"))
    max_images: int = Field(default_factory=lambda: _int("INTENTKB_LLM_MAX_IMAGES", 1), ge=0, le=16)
    prompts_dir: Path | None = Field(default_factory=lambda: Path(p).expanduser() if (p := _env("INTENTKB_PROMPTS_DIR")) else None)
    price: tuple[float, float] | None = Field(default_factory=lambda: _price_env())
    # The response cache; default DATA_DIR/llm_cache.sqlite. One cache can serve several knowledge bases.
    cache_path: Path | None = Field(default_factory=lambda: Path(p).expanduser() if (p := _env("INTENTKB_LLM_CACHE")) else None)
    batch_poll: float = Field(default_factory=lambda: _float("INTENTKB_LLM_BATCH_POLL", 30.0), gt=0)
    # How replies are asked for: `json` sends each template's reply model as a JSON-schema
    # response_format; `lines` asks for the papers' line formats; `auto` is json, and lines for the
    # rest of the run once the endpoint refuses response_format.
    output: Literal["auto", "json", "lines"] = Field(default_factory=lambda: (_env("INTENTKB_LLM_OUTPUT", default="auto") or "auto").lower())  # type: ignore[arg-type]

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else None

    @property
    def endpoint(self) -> str:
        """The endpoint as it may be shown: the base URL without credentials."""
        return _strip_credentials(self.base_url) if self.base_url else "api.openai.com"

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        """Every form in which the credentials can come back in a reply: the key, the URL's user and
        password (as written and percent-decoded), and the Basic-auth base64 of user:password."""
        key = self.api_key.get_secret_value()
        found = [key, base64.b64encode(key.encode()).decode()] if key else []
        if self.base_url and (m := re.search(r"//([^/@]*)@", self.base_url)):
            userinfo = m.group(1)
            for form in {userinfo, unquote(userinfo)}:
                found += [part for part in form.split(":") if len(part) >= 4]
                found.append(base64.b64encode(form.encode()).decode())
        return tuple(sorted({s for s in found if len(s) >= 4}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """`text` without the API key, the base URL's credentials or anything shaped like a credential."""
        return redact(text, self.secrets)

    @property
    def vision(self) -> bool:
        if self.multimodal == "auto":
            return bool(_VISION.search(self.model))
        return self.multimodal == "on"

    def prices(self) -> tuple[float, float]:
        """USD per million input and output tokens of the configured model."""
        if self.price is not None:
            return self.price
        name = self.model.lower().split("/")[-1]
        for key in sorted(PRICES, key=len, reverse=True):
            if name == key or name.startswith(key + "-"):
                return PRICES[key]
        return (0.0, 0.0)

    def public(self) -> dict[str, object]:
        """What a run record may keep: everything but the key (and only the URL's scheme+host+path)."""
        data = self.model_dump(exclude={"api_key"}, mode="json")
        data["api_key_set"] = bool(self.api_key.get_secret_value())
        if self.base_url:
            data["base_url"] = _strip_credentials(self.base_url)  # credentials in a URL never leave
        return data


def _strip_credentials(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//", url)


def _price_env() -> tuple[float, float] | None:
    raw = os.environ.get("INTENTKB_LLM_PRICE")
    if not raw:
        return None
    parts = [float(x) for x in raw.replace(";", ",").split(",")]
    if len(parts) != 2:
        raise ValueError("INTENTKB_LLM_PRICE must be 'input,output' USD per million tokens")
    return parts[0], parts[1]
