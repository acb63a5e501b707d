"""`python -m runner.report`: kept as an entry point; the code is in runner.analysis.report."""
import sys

from runner.analysis.report import main

if __name__ == "__main__":
    sys.exit(main())
