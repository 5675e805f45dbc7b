"""EcomScriptBench: tasks on shopping scripts, their steps and the products aligned to them
(builder.py), with one prompt template per task (templates/)."""
