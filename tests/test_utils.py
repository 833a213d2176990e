import time

import numpy as np
import pytest
import torch

from seqcourse.utils import Timer, check_ndim, check_shape, device, seed_everything


def test_device_prefers_explicit_choice_and_env(monkeypatch):
    assert device("cpu") == torch.device("cpu")
    monkeypatch.setenv("SEQCOURSE_DEVICE", "cpu")
    assert device() == torch.device("cpu")
    monkeypatch.delenv("SEQCOURSE_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert device().type == expected
    else:
        assert device().type in {"cpu", "mps"}


def test_seed_everything_makes_all_generators_repeat():
    seed_everything(123)
    a = (np.random.rand(3), torch.rand(3))
    seed_everything(123)
    b = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(a[0], b[0])
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)
    g1, g2 = seed_everything(5), seed_everything(5)
    torch.testing.assert_close(torch.rand(4, generator=g1), torch.rand(4, generator=g2), rtol=0, atol=0)
    seed_everything(6)
    assert not torch.equal(torch.rand(3), b[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(bad)


def test_timer_measures_elapsed_time():
    with Timer() as t:
        time.sleep(0.05)
    assert 0.045 <= t.elapsed < 1.0


def test_check_shape_accepts_symbols_and_names_both_shapes():
    check_shape("xs", np.zeros((5, 3)), ("T", 3))
    check_shape("xs", torch.zeros(2, 5, 3), (None, "T", 3))
    with pytest.raises(ValueError, match=r"xs must have shape \(T, 3\), got \(5, 4\)"):
        check_shape("xs", np.zeros((5, 4)), ("T", 3))
    with pytest.raises(ValueError, match=r"got \(5,\)"):
        check_shape("xs", np.zeros(5), ("T", 3))


def test_check_ndim():
    check_ndim("x", np.zeros((2, 2)), (2, 3))
    with pytest.raises(ValueError, match="2 or 3-D array, got 1-D"):
        check_ndim("x", np.zeros(2), (2, 3))


def test_time_alternately_warms_up_alternates_and_reports_medians_in_ms():
    from seqcourse.utils import time_alternately

    calls: list[str] = []

    def sleeper(name: str, seconds: float):
        def fn() -> None:
            calls.append(name)
            time.sleep(seconds)

        return fn

    ms = time_alternately({"fast": sleeper("fast", 0.001), "slow": sleeper("slow", 0.02)}, repeats=3)
    assert calls == ["fast", "slow"] * 4  # one warm-up round, then three alternating rounds
    assert set(ms) == {"fast", "slow"}
    assert 18 <= ms["slow"] < 500 and ms["fast"] < ms["slow"]
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        time_alternately({"fast": sleeper("fast", 0)}, repeats=0)
