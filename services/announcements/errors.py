"""Why an announcement is refused."""

from __future__ import annotations

from services.errors import Conflict, ValidationError


class InvalidAnnouncement(ValidationError):
    code = "invalid_announcement"


class AnnouncementDecided(Conflict):
    code = "announcement_already_decided"
