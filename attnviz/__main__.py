"""`python -m attnviz ...`: the same command line as the `attnviz` console script."""

import sys

from attnviz.cli import run

sys.exit(run())
