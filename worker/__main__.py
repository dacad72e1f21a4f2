"""``python -m worker`` is the ``storywire`` command."""

from worker.cli import main

main()
