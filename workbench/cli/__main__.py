"""`python -m workbench.cli`: the `wb` command, as the tests and child processes run it."""

import sys

from workbench.cli.root import main

sys.exit(main())
