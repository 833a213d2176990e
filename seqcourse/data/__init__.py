"""Data: the text pipeline, shipped corpora, synthetic tasks, graphs and images. Import submodules."""
