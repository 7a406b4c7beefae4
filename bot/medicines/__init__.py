"""Medicines from a photo of the box (issue 37): DataMatrix → CIP13 → the public French drug database (BDPM)."""
