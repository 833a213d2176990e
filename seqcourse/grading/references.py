"""The course's reference implementations with the signatures the assignment notebooks ask for.

A test that grades one part independently of another swaps one of these in for the student's function or
class (e.g. a07's (d) builds the student's ``EncoderBlock`` around the reference multi-head attention, so a
mistake in (c) costs no points in (d)). With the two-process grading engine the swapped-in object travels
to the student process by name and runs there at full speed, gradients included; a test-defined wrapper
would instead become a callback into the checker on every call.

Students may read this module, but answers may not use it: every assignment's grading rules block
``seqcourse.grading`` in the student process and flag an answer that imports it.
"""

from __future__ import annotations

import torch

from seqcourse.nn import attention, rbm, transformer

__all__ = ["MultiHeadAttention", "EncoderBlock", "cd1_gradient"]


class MultiHeadAttention(attention.MultiHeadAttention):
    """a07 (c): ``forward(X (B, T, d_model), mask (T, T) or (B, T, T)) -> (B, T, d_model)``.

    The readable path (``fast=False``): the softmax of :math:`QK^T/\\sqrt{d_k}` is formed explicitly, as in
    the notebook, so results agree with a hand-written answer to double precision.
    """

    def forward(self, X: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(X, mask=mask, fast=False)[0]


class EncoderBlock(transformer.EncoderBlock):
    """a07 (d): ``forward(X (B, T, d_model), mask (T, T) or (B, T, T)) -> (B, T, d_model)``."""

    def forward(self, X: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(X, mask=mask)


def cd1_gradient(
    v0: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """a08 (d): the CD-1 estimate of :math:`\\partial \\overline{\\log p(v)} / \\partial (W, b, c)`.

    ``v0`` (B, d) binary, ``W`` (d, p), ``b`` (d,), ``c`` (p,); returns ``{"W": (d, p), "b": (d,),
    "c": (p,)}``.
    """
    model = rbm.RBM(W.shape[0], W.shape[1]).to(device=W.device, dtype=W.dtype)
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
        model.c.copy_(c)
    return model.cd_gradient(v0, k=1, generator=generator)[0]
