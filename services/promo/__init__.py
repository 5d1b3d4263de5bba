"""Promo codes: admins create them with a budget held in the ledger, users redeem them once."""
