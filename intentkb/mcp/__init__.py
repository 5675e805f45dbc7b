"""The knowledge base for LLM agents: a Model Context Protocol server (`intentkb mcp`)."""
