"""``python -m shadowd.cli``: the ``shadowd`` command."""

import sys

from shadowd.cli import main

sys.exit(main())
