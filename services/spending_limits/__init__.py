"""How much of their P2P daily limit a user has used today, and what is left."""
