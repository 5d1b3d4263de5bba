"""`python -m bot` runs the platform (the composition root is `app/`; the name stays)."""

from app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
