"""`python -m runner.compare`: kept as an entry point; the code is in runner.analysis.compare."""
import sys

from runner.analysis.compare import main

if __name__ == "__main__":
    sys.exit(main())
