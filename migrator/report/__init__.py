"""Rendering results for people: the end-of-run summary (reports for verify come later)."""
