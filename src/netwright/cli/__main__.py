"""`python -m netwright.cli`: the `netwright` command."""

import sys

from netwright.cli import main

sys.exit(main())
