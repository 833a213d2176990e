"""Small image data without downloads: scikit-learn's bundled 8x8 handwritten digits.

``bars_and_stripes`` generates the classic tiny binary data set on which an RBM's likelihood is exact.
``load_digits`` ships inside scikit-learn (1797 images, 64 grey levels 0..16, ten classes), so the
energy-based models and autoencoders of lecture 004 train on real images in seconds on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Digits", "load_digits", "bars_and_stripes", "as_images"]


@dataclass
class Digits:
    """A deterministic train/test split of the 8x8 digits.

    ``X_train`` (N_train, 64) and ``X_test`` (N_test, 64) are float tensors in [0, 1] (or in {0, 1} when
    binarised); ``y_train`` / ``y_test`` are int64 class labels 0..9. ``image_shape`` is (8, 8).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int] = (8, 8)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return 10

    def labelled_subset(self, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``per_class`` training images of every class, drawn without replacement with ``seed``: (X, y).

        The setting of semi-supervised experiments: all of X_train may be used without labels, and only
        this subset with them.
        """
        counts = torch.bincount(self.y_train, minlength=self.n_classes)
        if not 1 <= per_class <= int(counts.min()):
            raise ValueError(f"per_class must lie in [1, {int(counts.min())}], got {per_class}")
        gen = torch.Generator().manual_seed(seed)
        idx = []
        for k in range(self.n_classes):
            rows = torch.nonzero(self.y_train == k)[:, 0]  # (n_k,) training rows of class k
            idx.append(rows[torch.randperm(len(rows), generator=gen)[:per_class]])
        chosen = torch.cat(idx).to(self.y_train.device)  # (10 * per_class,)
        return self.X_train[chosen], self.y_train[chosen]


def load_digits(
    *,
    binarize: bool = False,
    threshold: float = 0.5,
    test_size: float = 0.2,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Digits:
    """Return the scikit-learn digits scaled to [0, 1] with a stratified, seeded train/test split.

    ``binarize=True`` maps each pixel to 1 where its scaled value is > ``threshold`` and 0 otherwise, the
    binary visible units an RBM expects. The same ``seed`` always gives the same split.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")
    raw = _sk_load_digits()
    X = raw.data.astype(np.float64) / 16.0  # (1797, 64) in [0, 1]
    if binarize:
        X = (X > threshold).astype(np.float64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, raw.target, test_size=test_size, random_state=seed, stratify=raw.target
    )
    return Digits(
        X_train=torch.as_tensor(X_tr, dtype=dtype),
        y_train=torch.as_tensor(y_tr, dtype=torch.int64),
        X_test=torch.as_tensor(X_te, dtype=dtype),
        y_test=torch.as_tensor(y_te, dtype=torch.int64),
    )


def bars_and_stripes(n: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All n x n binary images whose rows are all constant (stripes) or whose columns are (bars).

    Returns the 2^(n+1) - 2 distinct images flattened row by row, shape (2^(n+1) - 2, n * n); the blank and
    the full image are both kinds at once and appear once each.
    """
    if not isinstance(n, int) or not 2 <= n <= 5:
        raise ValueError(f"n must be an int in [2, 5], got {n!r}")
    lines = ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).to(dtype)  # (2^n, n): every on/off pattern
    stripes = lines[:, :, None].expand(-1, n, n)  # row r is all lines[k, r]
    bars = lines[:, None, :].expand(-1, n, n)  # column c is all lines[k, c]
    images = torch.cat([stripes, bars[1:-1]]).reshape(-1, n * n)  # bars 0 and 2^n - 1 repeat two stripes
    return images

def as_images(X: torch.Tensor, size: int | None = None, pad: int = 0) -> torch.Tensor:
    """Flat 8x8 digits (N, 64) as image batches (N, 1, H, W) for convolutional networks.

    ``size`` resizes each image bilinearly to size x size (``align_corners=False``); ``pad`` then adds that
    many zero pixels on every border. LeNet-5 reads 32x32 inputs: ``as_images(X, size=24, pad=4)`` keeps the
    digit inside the central 24x24 region, as MNIST's 28x28 digits sit inside LeNet-5's 32x32 field.
    """
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must have shape (N, 64) (flat 8x8 digits), got {tuple(X.shape)}")
    if size is not None and size <= 0:
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad!r}")
    images = X.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    if size is not None and size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return F.pad(images, (pad, pad, pad, pad))  # (N, 1, size + 2 pad, size + 2 pad)
