"""``python -m minicirc`` is the ``minicirc`` command."""
from .mnist.cli import main

raise SystemExit(main())
