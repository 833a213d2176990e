"""Neural architecture search in miniature (lecture 000): DARTS and a MetaQNN-style Q-learner.

**DARTS** (Liu et al., 2019) relaxes the discrete choice of an operation on an edge into a softmax mixture

    o_bar(x) = sum_o softmax(alpha)_o o(x),

so the architecture weights alpha can be learned by gradient descent. The search is a bilevel problem,

    min_alpha L_val(w*(alpha), alpha)   s.t.   w*(alpha) = argmin_w L_train(w, alpha),

solved here to first order: alternate one step on alpha using a validation batch with one step on the
operation weights w using a training batch. The discrete architecture keeps the argmax operation per edge.

**MetaQNN** (Baker et al., 2017) grows a network layer by layer with an epsilon-greedy Q-learning agent;
the reward at the end of an episode is the trained network's validation accuracy. The toy here keeps the
agent and the update rule but replaces training by a cheap, fully documented reward function.

Two DARTS search spaces: ``OPS`` works on sequences shaped (B, C, T) (:class:`DartsNetwork` on
:func:`local_max_task`), ``OPS_2D`` on images shaped (B, C, H, W) (:class:`DartsClassifier` on the 8x8
digits, trained with cross-entropy through ``darts_search(..., loss=F.cross_entropy)``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.count import receptive_field
from seqcourse.nn.cnn import DepthwiseSeparableConv2d
from seqcourse.utils import check_ndim

__all__ = [
    "OPS",
    "OPS_2D",
    "Zero",
    "MixedOp",
    "DartsNetwork",
    "DartsClassifier",
    "local_max_task",
    "darts_search",
    "SearchResult",
    "LAYERS",
    "toy_reward",
    "metaqnn_search",
    "QLearningResult",
    "all_architectures",
]


class Zero(nn.Module):
    """The "no connection" operation: returns zeros shaped like the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


# Candidate operations on one edge; each keeps the shape (B, C, T).
OPS: dict[str, Callable[[int], nn.Module]] = {
    "zero": lambda c: Zero(),
    "identity": lambda c: nn.Identity(),
    "conv3": lambda c: nn.Conv1d(c, c, 3, padding=1),
    "avg_pool3": lambda c: nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False),
    "max_pool3": lambda c: nn.MaxPool1d(3, stride=1, padding=1),
}



def _relu_then(layer: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), layer)


# Candidate operations on one edge of an image cell; each keeps the shape (B, C, H, W). The convolutions
# start with a ReLU (DARTS's ReLU-conv order), so a chain of edges is not just one linear map.
OPS_2D: dict[str, Callable[[int], nn.Module]] = {
    "zero": lambda c: Zero(),
    "identity": lambda c: nn.Identity(),
    "conv3": lambda c: _relu_then(nn.Conv2d(c, c, 3, padding=1)),
    "sep_conv3": lambda c: _relu_then(DepthwiseSeparableConv2d(c, c, 3, padding=1)),
    "dil_conv3": lambda c: _relu_then(nn.Conv2d(c, c, 3, padding=2, dilation=2)),
    "avg_pool3": lambda c: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    "max_pool3": lambda c: nn.MaxPool2d(3, stride=1, padding=1),
}


class MixedOp(nn.Module):
    """One DARTS edge: o_bar(x) = sum_o weights_o o(x) over the candidate operations ``op_names``, taken
    from the search space ``ops`` (``OPS`` for sequences, ``OPS_2D`` for images)."""

    def __init__(self, channels: int, op_names: Sequence[str] | None = None,
                 ops: Mapping[str, Callable[[int], nn.Module]] = OPS) -> None:
        super().__init__()
        op_names = tuple(ops) if op_names is None else tuple(op_names)
        unknown = [name for name in op_names if name not in ops]
        if unknown:
            raise ValueError(f"unknown operations {unknown}; choose from {list(ops)}")
        self.op_names = op_names
        self.ops = nn.ModuleList(ops[name](channels) for name in self.op_names)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(self.ops),):
            raise ValueError(f"weights must have shape ({len(self.ops)},), got {tuple(weights.shape)}")
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))  # like x


class DartsNetwork(nn.Module):
    """A chain of ``n_edges`` mixed edges, x -> e_1 -> ... -> e_n, with architecture weights alpha of shape
    (n_edges, n_ops). The operation weights w are the ordinary parameters of the candidate operations."""

    def __init__(self, channels: int, n_edges: int = 1, op_names: Sequence[str] | None = None,
                 ops: Mapping[str, Callable[[int], nn.Module]] = OPS) -> None:
        super().__init__()
        self.channels = channels
        self.edges = nn.ModuleList(MixedOp(channels, op_names, ops) for _ in range(n_edges))
        n_ops = len(self.edges[0].op_names) if n_edges else len(ops)
        self.alpha = nn.Parameter(torch.zeros(n_edges, n_ops))  # uniform mixture at the start

    def weight_parameters(self) -> list[nn.Parameter]:
        """The operation weights w (everything except alpha)."""
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def mixed_edges(self, x: torch.Tensor) -> torch.Tensor:
        """Pass x through the chain of edges, each mixing its operations with softmax(alpha)."""
        mix = torch.softmax(self.alpha, dim=-1)  # (n_edges, n_ops)
        for edge, weights in zip(self.edges, mix, strict=True):
            x = edge(x, weights)  # shape unchanged
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_ndim("x", x, 3)
        if x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (B, {self.channels}, T), got {tuple(x.shape)}")
        return self.mixed_edges(x)  # (B, C, T)

    def derive(self) -> list[str]:
        """The discrete architecture: the highest-weighted operation on every edge."""
        return [edge.op_names[i] for edge, i in zip(self.edges, self.alpha.argmax(-1).tolist(), strict=True)]


class DartsClassifier(DartsNetwork):
    """An image classifier around a searched chain of edges (the search space ``OPS_2D``):

    stem 3x3 convolution (C_in -> C) -> e_1 -> ... -> e_n -> flatten -> linear (C H W -> classes).

    Only the edges are searched; the stem and the head belong to the operation weights w. Every edge keeps
    the image size, so the head reads C x image_size x image_size features.
    """

    def __init__(self, in_channels: int = 1, channels: int = 8, n_edges: int = 2, n_classes: int = 10,
                 image_size: int = 8, op_names: Sequence[str] | None = None) -> None:
        super().__init__(channels, n_edges, op_names, ops=OPS_2D)
        self.in_channels, self.image_size = in_channels, image_size
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.head = nn.Linear(channels * image_size**2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_ndim("x", x, 4)
        expected = (self.in_channels, self.image_size, self.image_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        h = self.mixed_edges(self.stem(x))  # (B, C, H, W)
        return self.head(h.flatten(1))  # (B, n_classes)


def local_max_task(
    n: int, length: int = 16, channels: int = 2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences x (n, C, T) of Gaussian noise and targets y_t = max(x_{t-1}, x_t, x_{t+1}) per channel.

    Made so that one candidate is clearly best: max_pool3 fits it exactly with no weights, while a
    convolution (linear) or an average can only approximate a maximum.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, length, generator=g)  # (n, C, T)
    return x, F.max_pool1d(x, 3, stride=1, padding=1)


@dataclass
class SearchResult:
    """What :func:`darts_search` returns: the derived operations and alpha's softmax after every step."""

    architecture: list[str]
    weights_history: list[torch.Tensor] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def darts_search(
    model: DartsNetwork,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    steps: int = 100,
    batch_size: int = 32,
    w_lr: float = 0.05,
    alpha_lr: float = 0.1,
    seed: int = 0,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.mse_loss,
) -> SearchResult:
    """First-order DARTS: each step updates alpha on a validation batch (gradient of L_val at the current
    w, i.e. w*(alpha) approximated by w itself), then w on a training batch (gradient of L_train at the new
    alpha). ``loss`` is mean-squared error by default; pass ``F.cross_entropy`` for a classifier.
    """
    g = torch.Generator().manual_seed(seed)
    opt_w = torch.optim.SGD(model.weight_parameters(), lr=w_lr, momentum=0.9)
    opt_alpha = torch.optim.Adam([model.alpha], lr=alpha_lr)
    result = SearchResult(architecture=[])

    def batch(data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(data[0]), (batch_size,), generator=g)
        return data[0][idx], data[1][idx]

    for _ in range(steps):
        x_val, y_val = batch(val)
        opt_alpha.zero_grad()
        val_loss = loss(model(x_val), y_val)
        val_loss.backward()
        opt_alpha.step()  # alpha <- alpha - lr grad_alpha L_val(w, alpha)

        x_tr, y_tr = batch(train)
        opt_w.zero_grad()
        loss(model(x_tr), y_tr).backward()
        opt_w.step()  # w <- w - lr grad_w L_train(w, alpha)

        result.val_loss.append(val_loss.item())
        result.weights_history.append(torch.softmax(model.alpha.detach(), -1).clone())
    result.architecture = model.derive()
    return result


# ---------------------------------------------------------------------------------------------------------
# MetaQNN-style toy
# ---------------------------------------------------------------------------------------------------------

# Layer choices of the toy: name -> (kernel, stride) of a 1-D convolution or pooling layer.
LAYERS: dict[str, tuple[int, int]] = {"conv3": (3, 1), "conv5": (5, 1), "pool2": (2, 2)}
STOP = "stop"


def toy_reward(architecture: Sequence[str], target_field: int = 10, layer_cost: float = 0.1) -> float:
    """A cheap stand-in for validation accuracy, in [0, 1] like it (a toy, not a trained network's score):

    reward = 1 / (1 + |receptive_field(architecture) - target_field| + layer_cost * depth),

    i.e. reach a target receptive field with as few layers as possible. An empty network scores 0.
    """
    if not architecture:
        return 0.0
    kernels, strides = zip(*(LAYERS[name] for name in architecture), strict=True)
    miss = abs(receptive_field(kernels, strides) - target_field)
    return 1.0 / (1.0 + miss + layer_cost * len(architecture))


def all_architectures(max_depth: int) -> list[tuple[str, ...]]:
    """Every non-empty layer sequence of length at most ``max_depth`` (the brute-force search space)."""
    return [arch for d in range(1, max_depth + 1) for arch in itertools.product(LAYERS, repeat=d)]


@dataclass
class QLearningResult:
    """Best architecture seen, its reward, the Q table, and the reward of every episode."""

    best: tuple[str, ...]
    best_reward: float
    greedy: tuple[str, ...]
    q: dict[tuple[int, str, str], float]
    rewards: list[float]


def metaqnn_search(
    reward_fn: Callable[[Sequence[str]], float] = toy_reward,
    max_depth: int = 4,
    episodes: int = 400,
    epsilons: Sequence[tuple[float, int]] = ((1.0, 100), (0.5, 50), (0.3, 50), (0.1, 200)),
    learning_rate: float = 0.3,
    gamma: float = 1.0,
    q_init: float = 0.5,
    replay: int = 20,
    seed: int = 0,
) -> QLearningResult:
    """Epsilon-greedy Q-learning over layer sequences, as in MetaQNN.

    A state is (depth, last layer); an action is the next layer or ``"stop"`` (forced at ``max_depth``).
    Only the final transition is rewarded, with reward_fn(architecture). After each episode the agent
    replays ``replay`` stored episodes (experience replay) and applies, backwards along each episode,

        Q(s, a) <- (1 - eta) Q(s, a) + eta [r + gamma max_a' Q(s', a')],   r = 0 before the last step.

    Unseen Q values start at ``q_init`` (0.5 in MetaQNN, whose rewards are accuracies in [0, 1]).
    ``epsilons`` is MetaQNN's schedule of (epsilon, episodes) pairs: explore first, exploit later.
    ``QLearningResult.greedy`` is the architecture the learned Q table picks with epsilon = 0; with a unique
    optimum it is found reliably, with several tied optima the greedy policy may still be unsettled.
    """
    rng = random.Random(seed)
    q: dict[tuple[int, str, str], float] = {}
    memory: list[tuple[tuple[str, ...], float]] = []
    rewards: list[float] = []
    cache: dict[tuple[str, ...], float] = {}

    def actions(depth: int) -> list[str]:
        if depth == max_depth:
            return [STOP]
        return list(LAYERS) + ([STOP] if depth > 0 else [])

    def update(arch: tuple[str, ...], reward: float) -> None:
        states = [(d, arch[d - 1] if d else "input") for d in range(len(arch) + 1)]
        moves = list(arch) + [STOP]
        for d in reversed(range(len(moves))):
            key = (*states[d], moves[d])
            if moves[d] == STOP:
                target = reward
            else:
                target = gamma * max(q.get((*states[d + 1], a), q_init) for a in actions(d + 1))
            q[key] = (1 - learning_rate) * q.get(key, q_init) + learning_rate * target

    schedule = [eps for eps, count in epsilons for _ in range(count)][:episodes]
    schedule += [schedule[-1] if schedule else 0.0] * (episodes - len(schedule))
    def rollout(eps: float) -> tuple[str, ...]:
        arch: list[str] = []
        while True:
            state, choices = (len(arch), arch[-1] if arch else "input"), actions(len(arch))
            if rng.random() < eps:
                action = rng.choice(choices)
            else:
                action = max(choices, key=lambda a: q.get((*state, a), q_init))
            if action == STOP:
                return tuple(arch)
            arch.append(action)

    for eps in schedule:
        key = rollout(eps)
        if key not in cache:
            cache[key] = reward_fn(key)  # MetaQNN trains each new network once
        rewards.append(cache[key])
        memory.append((key, cache[key]))
        update(key, cache[key])
        for old in rng.sample(memory, min(replay, len(memory))):
            update(*old)
    best = max(cache, key=cache.__getitem__)
    return QLearningResult(best=best, best_reward=cache[best], greedy=rollout(0.0), q=q, rewards=rewards)
