"""seqcourse: the helper package of the 深度序列建模 (deep sequence modeling) course.

Submodules are imported explicitly, e.g. ``from seqcourse.scratch import rnn`` or
``from seqcourse.nn.attention import scaled_dot_product_attention``; importing the package itself
stays cheap (no torch import, no plotting setup).
"""

__version__ = "0.1.0"
