"""`python -m guanxi.cli` is `guanxi`."""

from guanxi.cli.main import main

main()
