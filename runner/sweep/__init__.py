"""Planning and launching a sweep: the Hydra sweeper and launcher, fast composition, resume, dry run,
progress, Ctrl-C. Everything that touches Hydra's machinery lives here."""
