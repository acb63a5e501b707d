"""`python -m runner.audit`: kept as an entry point; the code is in runner.analysis.audit.
The module is also callable: tp.audit(...) is runner.api.audit (runner.callable_entry_point)."""
import sys

import runner
from runner.analysis.audit import main

runner.callable_entry_point(__name__)  # tp.audit(...) works after this module is imported, too

if __name__ == "__main__":
    sys.exit(main())
