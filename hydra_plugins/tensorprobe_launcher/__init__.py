"""tensorprobe's in-process Hydra launcher plugin."""
