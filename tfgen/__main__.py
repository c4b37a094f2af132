"""`python -m tfgen` is the `tfgen` command."""

import sys

from tfgen.cli import main

sys.exit(main())
