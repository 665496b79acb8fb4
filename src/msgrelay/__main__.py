"""``python -m msgrelay``: the same as the ``msgrelay`` command."""

import sys

from msgrelay.cli import main

sys.exit(main())
