"""The composition root: process settings, `Services`, the components and their lifecycle."""
