"""SessionIntentBench: tasks asked along the intention trajectories of shopping sessions (builder.py),
with one prompt template per task (templates/)."""
