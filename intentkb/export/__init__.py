"""Files out of the knowledge base: task items in one writer per format (`writers.py` registers
them), gold labels joined onto items (`labels.py`), and knowledge for continued pre-training and
fine-tuning (`knowledge.py`)."""
