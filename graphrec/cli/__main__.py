"""``python -m graphrec.cli``: the ``graphrec`` command."""

from graphrec.cli import main

main()
