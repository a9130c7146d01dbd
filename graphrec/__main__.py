"""``python -m graphrec``: the ``graphrec`` command (what ``torchrun -m graphrec train ...`` runs)."""

from graphrec.cli import main

main()
