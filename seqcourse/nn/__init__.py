"""PyTorch modules written from the lectures' equations. Import submodules, e.g. ``seqcourse.nn.attention``."""
