"""Entry point: ``python -m benchmarks SUITE ...`` (see ``benchmarks.cli``)."""

import sys

from .cli import main


sys.exit(main())
