"""The product's own token: the welcome bonus, a send's asset when none is named, first in a
wallet. Its row in tokens.assets is seeded by migration 0002."""

from __future__ import annotations

from typing import Final

DEFAULT_ASSET: Final = "VIBE"
# The seeded row's decimals: settings give the welcome bonus in whole VIBE before any database.
DEFAULT_ASSET_DECIMALS: Final = 6
