"""Data files of the targets package (the shipped target library)."""
