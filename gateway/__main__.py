"""Allow ``python -m gateway``."""

from gateway.cli.app import main

main()
