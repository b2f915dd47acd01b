"""``python -m shadowd.cli``: the ``shadowd`` command."""

import sys

from shadowd.cli.shadowd import main

sys.exit(main())
