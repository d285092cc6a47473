"""`python -m fapiao_client.cli` runs the `fapiao` command."""

import sys

from . import main

sys.exit(main())
