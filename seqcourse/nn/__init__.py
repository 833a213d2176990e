"""PyTorch modules written from the lectures' equations; import submodules (``seqcourse.nn.attention``)."""
