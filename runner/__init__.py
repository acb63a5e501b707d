"""tensorprobe: measure how PyTorch treats every tensor a module holds."""
__version__ = "0.1.0"
