"""`python -m dynref_io.cli`: how cluster nodes are spawned, the same as the `dynref` command."""

import sys

from dynref_io.cli import main

sys.exit(main())
