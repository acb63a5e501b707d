"""`python -m runner.audit`: kept as an entry point; the code is in runner.analysis.audit."""
import sys

from runner.analysis.audit import main

if __name__ == "__main__":
    sys.exit(main())
