"""Views of the knowledge base for people: the HTML session page."""
