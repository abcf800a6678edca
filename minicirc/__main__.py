"""``python -m minicirc`` is the ``minicirc`` command."""
from .cli import main

raise SystemExit(main())
