"""Realtime: events written with the change that causes them, fanned out to WebSockets."""
