"""``python -m iopfhir`` runs the command line."""

import sys

from iopfhir.cli import main

sys.exit(main())
