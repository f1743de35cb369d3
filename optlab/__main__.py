import sys

from optlab.cli import main

sys.exit(main())
