"""``python -m fpexp``: see ``fpexp.cli``."""

from fpexp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
