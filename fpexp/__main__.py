"""``python -m fpexp``: see ``fpexp.cli``."""

from fpexp.cli import entry

if __name__ == "__main__":
    entry()
