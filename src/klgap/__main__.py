"""Entry point for ``python -m klgap``."""

from klgap.cli import main

if __name__ == "__main__":
    main()
