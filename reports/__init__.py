"""Readers of results directories: frames (pandas), summaries, figures and renderers."""
