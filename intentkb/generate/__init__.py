"""Knowledge generated with an LLM: the pipelines (SessionIntentBench trees, MIND co-buy
intentions, EcomScriptBench scripts), their stages, the run loop and the Batch API rounds."""
