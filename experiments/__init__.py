"""Plain torch modules that tensorprobe probes through `_target_` (no Hydra here)."""
