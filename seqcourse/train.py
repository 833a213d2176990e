"""One fit loop for every chapter: progress bar, gradient clipping, live loss curve, returned history.

``fit`` trains any ``nn.Module`` given a function ``loss(batch) -> scalar tensor``. The sequence models of
:mod:`seqcourse.nn` carry their own (``model.loss``), which is the default; anything else passes one::

    history = fit(lm, train_batches, epochs=5, lr=1e-2, clip=1.0, val_batches=val_batches)  # lm.loss
    history = fit(clf, batches, loss=lambda b: F.cross_entropy(clf(b[0]), b[1]), epochs=5)
    history.train_loss  # one float per epoch
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from seqcourse.utils import check_positive

__all__ = ["History", "fit", "evaluate", "fit_classifier", "accuracy"]

Loss = Callable[[Any], torch.Tensor]


@dataclass
class History:
    """Per-epoch mean losses and gradient norms (before clipping) recorded by :func:`fit`."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return {"train_loss": self.train_loss, "val_loss": self.val_loss, "grad_norm": self.grad_norm}


def _to_device(batch: Any, dev: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(dev)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, dev) for k, v in batch.items()}
    return batch


def _loss_of(model: nn.Module, loss: Loss | None) -> Loss:
    if loss is not None:
        if not callable(loss):
            raise TypeError(f"loss must be a function batch -> scalar tensor, got {type(loss).__name__}")
        return loss
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"{type(model).__name__} has no loss(batch) method; pass loss=")
    return model.loss


def evaluate(model: nn.Module, batches: Iterable[Any], loss: Loss | None = None) -> float:
    """Mean of ``loss(batch)`` (default ``model.loss``) over ``batches``, in eval mode without gradients."""
    loss = _loss_of(model, loss)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            total += float(loss(_to_device(batch, dev)).detach())
            count += 1
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got no batches")
    return total / count


class _LiveCurve:
    """Redraws the loss curve in place inside Jupyter; the last drawing stays in the saved notebook."""

    def __init__(self) -> None:
        from IPython import get_ipython
        from IPython.display import display

        self.handle = display(display_id=True) if get_ipython() is not None else None
        self._display = display

    def update(self, history: History) -> None:
        if self.handle is None:
            return
        from seqcourse.plot import plot_history

        fig = plot_history(history)
        self.handle.update(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)  # the inline backend must not show the figure a second time


def fit(
    model: nn.Module,
    train_batches: Iterable[Any],
    *,
    loss: Loss | None = None,
    epochs: int = 1,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float | None = None,
    val_batches: Iterable[Any] | None = None,
    progress: bool = True,
    live: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_batches`` and return the :class:`History`.

    ``loss(batch)`` returns the scalar loss of one batch (batches are moved to the model's device); it
    defaults to ``model.loss``, the method every sequence model of :mod:`seqcourse.nn` has.
    ``clip`` rescales the gradient so that its global L2 norm is at most ``clip``
    (g <- g * clip / ||g|| when ||g|| > clip). ``optimizer`` defaults to Adam with learning rate ``lr``.
    ``train_batches`` must be re-iterable (a list or a ``DataLoader``), not a one-shot generator.
    ``live=True`` draws the loss curves after every epoch inside Jupyter.
    """
    check_positive(epochs=epochs)
    loss = _loss_of(model, loss)
    if clip is not None and clip <= 0:
        raise ValueError(f"clip must be positive or None, got {clip}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    dev = params[0].device
    opt = optimizer or torch.optim.Adam(params, lr=lr)
    history = History()
    curve = _LiveCurve() if live else None

    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc="training", disable=not progress, leave=True)
    model.train()
    for _ in range(epochs):
        total, norm_total, count = 0.0, 0.0, 0
        for batch in train_batches:
            value = loss(_to_device(batch, dev))
            if not torch.isfinite(value.detach()):
                raise FloatingPointError(f"loss became {float(value.detach())}; lower lr or set clip")
            opt.zero_grad(set_to_none=True)
            value.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf)
            opt.step()
            total += float(value.detach())
            norm_total += float(norm)
            count += 1
        if count == 0:
            raise ValueError("train_batches yielded no batch (a generator can only be iterated once)")
        history.train_loss.append(total / count)
        history.grad_norm.append(norm_total / count)
        postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
        if val_batches is not None:
            history.val_loss.append(evaluate(model, val_batches, loss))
            postfix["val"] = f"{history.val_loss[-1]:.4f}"
        bar.set_postfix(postfix)
        bar.update(1)
        if curve is not None:
            curve.update(history)
    bar.close()
    return history


def fit_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 10, lr: float = 1e-2,
                   batch_size: int = 64) -> History:
    """Train ``model`` (logits (N, C)) on features X (N, d) and labels y (N,) with cross-entropy and Adam."""
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}")
    batches = [(X[i : i + batch_size], y[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    return fit(model, batches, loss=lambda b: nn.functional.cross_entropy(model(b[0]), b[1]), epochs=epochs,
               lr=lr, progress=False)


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of X whose arg-max logit equals the label in y (the model is put in eval mode)."""
    was_training = model.training
    model.eval()
    acc = float((model(X).argmax(-1) == y).float().mean())
    model.train(was_training)
    return acc
