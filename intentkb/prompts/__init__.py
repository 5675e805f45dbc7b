"""What a model is asked and how its answers are read: prompt templates (users can replace them),
the reply formats (line and JSON forms, one registry entry each) and their readers."""
