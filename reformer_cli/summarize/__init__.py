"""Summaries of long documents. summary.py defines the result and the options; extractive.py is
the model-free method (no torch); abstractive.py generates with a trained model and is imported
only when asked for."""
