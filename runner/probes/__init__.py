"""Probe stages: each takes a module (and the tensors found in it) and returns per-tensor outcomes.

Probes use torch only; no Hydra or OmegaConf past this line.
"""
