"""The mathematics: toy functions, claims and the papers' statements as registered checks.

One module per source paper (``sharp``: Dominguez Corella; ``filters``: Bolte, Le, Pauwels;
``escape``: Ahn, Jadbabaie, Sra; ``flat_geometry``: Josz; ``xor_flatness``: Wen, Li, Ma).
Modules are imported on use; ``verify.registry.discover`` imports them all.
"""
