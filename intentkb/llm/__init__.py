"""Talking to a model: an OpenAI-compatible client with its cache, retries, token accounting and
settings. What to ask lives in `intentkb.prompts`, the pipelines that ask it in `intentkb.generate`."""
