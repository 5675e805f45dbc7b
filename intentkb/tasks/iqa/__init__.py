"""IntentionQA-style multiple choice over co-bought pairs and their intentions (builder.py), with one
prompt template per task (templates/)."""
