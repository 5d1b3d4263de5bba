"""`python -m app` is `python -m bot`."""

from app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
