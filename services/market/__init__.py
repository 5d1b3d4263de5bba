"""P2P market: an order book of offers between users, escrowed by ledger holds (issue 14)."""
