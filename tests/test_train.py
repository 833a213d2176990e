import math

import pytest
import torch
from torch import nn

from seqcourse.train import evaluate, fit
from seqcourse.utils import seed_everything


def _regression_batches(n_batches: int = 8, batch: int = 16):
    g = seed_everything(0)
    w_true = torch.tensor([[2.0], [-3.0]])
    batches = []
    for _ in range(n_batches):
        x = torch.randn(batch, 2, generator=g)
        batches.append((x, x @ w_true + 0.5))
    return batches


def _mse(model):
    return lambda batch: nn.functional.mse_loss(model(batch[0]), batch[1])


def test_fit_learns_a_linear_map_and_records_history():
    seed_everything(0)
    model = nn.Linear(2, 1)
    batches = _regression_batches()
    before = evaluate(model, batches, _mse(model))
    history = fit(model, batches, loss=_mse(model), epochs=30, lr=0.1, val_batches=batches[:2],
                  progress=False)
    assert len(history.train_loss) == len(history.val_loss) == len(history.grad_norm) == 30
    assert history.train_loss[-1] < 1e-3 < before
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[2.0, -3.0]]), atol=0.02, rtol=0)
    assert history.val_loss[-1] == pytest.approx(evaluate(model, batches[:2], _mse(model)))


def test_clip_bounds_the_update_of_plain_sgd():
    """With SGD and lr = 1 the parameter change equals the (clipped) gradient, so its norm is <= clip."""
    model = nn.Linear(2, 1)
    x = torch.full((4, 2), 100.0)
    batch = [(x, torch.zeros(4, 1))]
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    history = fit(model, batch, loss=_mse(model), optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
                  clip=0.5, progress=False)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert history.grad_norm[0] > 0.5  # the recorded norm is the one before clipping
    assert math.isclose(float((after - before).norm()), 0.5, rel_tol=1e-5)


def test_fit_reports_bad_arguments_clearly():
    model = nn.Linear(2, 1)
    batches = _regression_batches(1)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(model, batches, loss=_mse(model), epochs=0, progress=False)
    with pytest.raises(ValueError, match="clip must be positive"):
        fit(model, batches, loss=_mse(model), clip=0.0, progress=False)
    with pytest.raises(ValueError, match="no batch"):
        fit(model, [], loss=_mse(model), progress=False)
    with pytest.raises(FloatingPointError, match="loss became"):
        fit(model, batches, loss=lambda b: torch.tensor(float("nan"), requires_grad=True), progress=False)
    with pytest.raises(TypeError, match="Linear has no loss\\(batch\\) method; pass loss="):
        fit(model, batches, progress=False)
    with pytest.raises(TypeError, match="loss must be a function"):
        fit(model, batches, loss="mse", progress=False)


class _WithLoss(nn.Linear):
    def loss(self, batch):
        return nn.functional.mse_loss(self(batch[0]), batch[1])


def test_fit_and_evaluate_default_to_the_models_own_loss():
    seed_everything(0)
    a = _WithLoss(2, 1)
    b = _WithLoss(2, 1)
    b.load_state_dict(a.state_dict())
    batches = _regression_batches(2)
    assert evaluate(a, batches) == evaluate(b, batches, _mse(b))
    fit(a, batches, epochs=3, progress=False)
    fit(b, batches, loss=_mse(b), epochs=3, progress=False)
    torch.testing.assert_close(a.weight, b.weight)


def test_live_curve_is_silent_outside_jupyter(capsys, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr("seqcourse.plot.plot_history", lambda history: drawn.append(history))
    figures = plt.get_fignums()
    model = nn.Linear(2, 1)
    history = fit(model, _regression_batches(2), loss=_mse(model), epochs=2, live=True, progress=False)
    assert len(history.train_loss) == 2
    assert drawn == [] and plt.get_fignums() == figures  # no curve was drawn ...
    assert capsys.readouterr() == ("", "")  # ... and nothing was printed


def test_live_curve_redraws_one_display_per_epoch_in_jupyter():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    try:
        model = nn.Linear(2, 1)
        with capture_output() as captured:
            fit(model, _regression_batches(2), loss=_mse(model), epochs=3, live=True, progress=False)
    finally:
        InteractiveShell.clear_instance()
    outputs = captured.outputs  # the empty display created up front, then one update per epoch
    assert len(outputs) == 4
    ids = {o.transient["display_id"] for o in outputs}
    assert len(ids) == 1  # every epoch redraws the same display in place
    assert [o.update for o in outputs] == [False, True, True, True]
    assert all(o.data["text/plain"].startswith("<Figure") for o in outputs[1:])  # a matplotlib figure


def test_fit_classifier_and_accuracy_on_separable_data():
    from seqcourse.train import accuracy, fit_classifier

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=gen)
    y = (X[:, 0] + X[:, 1] > 0).long()
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    assert accuracy(model, X, y) == pytest.approx(float((y == 0).float().mean()))  # all logits tie: class 0
    hist = fit_classifier(model, X, y, epochs=30, lr=0.05, batch_size=50)
    assert len(hist.train_loss) == 30 and hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert accuracy(model, X, y) >= 0.97
    model.train()
    accuracy(model, X, y)
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="same number of rows"):
        fit_classifier(model, X, y[:5])
