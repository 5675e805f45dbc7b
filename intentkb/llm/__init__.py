"""LLM generation: an OpenAI-compatible client with cache, retries and accounting; prompt
templates; the SessionIntentBench, MIND and EcomScriptBench pipelines (`run_generation`)."""
