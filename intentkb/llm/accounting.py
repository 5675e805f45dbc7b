"""Token and cost accounting per prompt template, summed per pipeline, kept with the run."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PromptUsage(BaseModel):
    calls: int = 0  # requests sent (retries and corrections included)
    replies: int = 0  # usable replies obtained from the model
    cache_hits: int = 0
    retries: int = 0  # requests repeated after 429 / 5xx / timeout / connection errors
    corrections: int = 0  # re-asks after an unusable reply
    failures: int = 0  # items given up on (in the rejects file)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    saved_prompt_tokens: int = 0  # what the cache hits would have cost
    saved_completion_tokens: int = 0

    def cost(self, price_in: float, price_out: float) -> float:
        return (self.prompt_tokens * price_in + self.completion_tokens * price_out) / 1e6


class Usage(BaseModel):
    """All prompts of a run; `cost_usd` is filled by `finish` with the model's prices."""

    prompts: dict[str, PromptUsage] = Field(default_factory=dict)
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0
    cost_usd: float = 0.0

    def of(self, template: str) -> PromptUsage:
        u = self.prompts.get(template)
        if u is None:
            u = self.prompts[template] = PromptUsage()
        return u

    def total(self) -> PromptUsage:
        t = PromptUsage()
        for u in self.prompts.values():
            for k in PromptUsage.model_fields:
                setattr(t, k, getattr(t, k) + getattr(u, k))
        return t

    def finish(self, price_in: float, price_out: float) -> Usage:
        """Batch API replies are billed at half price."""
        t = self.total()
        full = t.cost(price_in, price_out)
        discount = (self.batch_prompt_tokens * price_in + self.batch_completion_tokens * price_out) / 2e6
        self.cost_usd = round(full - discount, 6)
        return self
