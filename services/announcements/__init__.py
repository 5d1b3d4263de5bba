"""Announcements: an admin's broadcast to every Mini App at once and to every bot chat, once."""
