"""`python -m runner.collect`: kept as an entry point; the code is in runner.table.collect."""
import sys

from runner.table.collect import main

if __name__ == "__main__":
    sys.exit(main())
