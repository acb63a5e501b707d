"""tensorprobe's SLURM launcher plugin (hydra-submitit-launcher's, watching every job to its end)."""
