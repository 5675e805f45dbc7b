"""Files other tools read and write: neutral ground for `tasks`, `knowledge` and `llm`."""
