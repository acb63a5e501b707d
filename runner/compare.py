"""`python -m runner.compare`: kept as an entry point; the code is in runner.analysis.compare.
The module is also callable: tp.compare(...) is runner.api.compare (runner.callable_entry_point)."""
import sys

import runner
from runner.analysis.compare import main

runner.callable_entry_point(__name__)  # tp.compare(...) works after this module is imported, too

if __name__ == "__main__":
    sys.exit(main())
