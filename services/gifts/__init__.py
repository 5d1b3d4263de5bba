"""Gifts: direct gifts, gift links and red packets, escrowed as ledger holds until claimed."""
