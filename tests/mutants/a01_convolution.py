"""Plausible wrong answers to a01_convolution (convolution by loops, weight counts, max pooling)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) convolution with stride and padding
    Mutant("flipped_kernel", breaks={"a"},
           edits={"a_conv_answer": [("np.tensordot(window, w,",
                                     "np.tensordot(window, w[:, :, ::-1, ::-1],")]}),
    Mutant("window_ignores_stride", breaks={"a"},
           edits={"a_conv_answer": [("r, c = i * stride, j * stride", "r, c = i, j")]}),
    Mutant("lecture001_output_size", breaks={"a"},
           edits={"a_conv_answer": [("H_out = (H + 2 * padding - kh) // stride + 1",
                                     "H_out = (H + 2 * padding - kh + 1) // stride")]}),
    Mutant("forgot_bias", breaks={"a"},
           edits={"a_conv_answer": [("y = y + b[None, :, None, None]", "y = y")]}),
    Mutant("padding_one_side", breaks={"a"},
           edits={"a_conv_answer": [("(padding, padding), (padding, padding)",
                                     "(padding, 0), (padding, 0)")]}),
    # (b) weight counts
    Mutant("fully_ignores_shrinking", breaks={"b"},
           edits={"b_counts_answer": [("(c_out * out * out)\n", "(c_out * size * size)\n")]}),
    Mutant("shared_forgets_input_channels", breaks={"b"},
           edits={"b_counts_answer": [("shared = c_out * c_in * kernel * kernel",
                                       "shared = c_out * kernel * kernel")]}),
    Mutant("local_forgets_input_channels", breaks={"b"}, partial=True,
           edits={"b_counts_answer": [("* (c_in * kernel * kernel)", "* (kernel * kernel)")]}),
    # (c) max pooling forward
    Mutant("pool_window_too_small", breaks={"c"},
           edits={"c_pool_answer": [("window = x[:, :, i * s : i * s + k, j * s : j * s + k]",
                                     "window = x[:, :, i * s : i * s + k - 1, j * s : j * s + k - 1]")]}),
    Mutant("pool_stride_one", breaks={"c"},
           edits={"c_pool_answer": [("s = k if stride is None else stride", "s = 1")]}),
    Mutant("pool_starts_from_zero", breaks={"c"}, partial=True,
           edits={"c_pool_answer": [("y = np.zeros((N, C, H_out, W_out), dtype=x.dtype)",
                                     "y = np.zeros((N, C, H_out, W_out), dtype=x.dtype)\n"
                                     "    x = np.maximum(x, 0)")]}),
    # (d) max pooling backward
    Mutant("overwrite_instead_of_add", breaks={"d"},
           edits={"d_pool_backward_answer": [("+= mask * dy", "= mask * dy")]}),
    Mutant("spread_like_average", breaks={"d"},
           edits={"d_pool_backward_answer": [("+= mask * dy[:, :, i, j, None, None]",
                                              "+= dy[:, :, i, j, None, None] / (k * k)")]}),
    Mutant("route_to_minimum", breaks={"d"},
           edits={"d_pool_backward_answer": [("window == window.max(", "window == window.min(")]}),
]
