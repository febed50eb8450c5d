"""``python -m coordkit_cli``: the same as the ``coordkit`` console script."""

from __future__ import annotations

from .entry import main

if __name__ == "__main__":
    main()
