import sys

from container_claims.cli import main

sys.exit(main())
