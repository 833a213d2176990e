"""NumPy-only references with hand-written backward passes, checked against autograd."""
