"""Evaluation: `eval run` (models on exported items), `eval score` and paired comparison, the
IntentionQA MCQ scorer, metrics with intervals, and the import of human annotations."""
