"""Planning and launching a sweep: the Hydra sweeper and launcher, fast composition, resume, dry run,
progress, Ctrl-C. Everything that touches Hydra's machinery lives here."""
import runner

runner.callable_entry_point(__name__)  # tp.sweep(...) stays the API function once this package is imported
