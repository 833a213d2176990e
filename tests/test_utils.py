import time

import numpy as np
import pytest
import torch

from seqcourse.utils import (
    Timer,
    check_floating,
    check_int_range,
    check_ndim,
    check_non_negative,
    check_params,
    check_positive,
    check_shape,
    check_token_ids,
    device,
    seed_everything,
)


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


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "3", None])
def test_check_positive_rejects_non_positive_ints_and_bools(bad):
    with pytest.raises(ValueError, match=rf"max_len must be a positive int, got {bad!r}"):
        check_positive(max_len=bad)
    check_positive(max_len=3, groups=np.int64(2))  # NumPy ints are ints


def test_check_non_negative_accepts_zero_and_rejects_bools():
    check_non_negative(window=0)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="window must be a non-negative int"):
            check_non_negative(window=bad)


def test_check_shape_binds_symbols_across_arguments():
    sizes = {}
    check_shape("x", torch.zeros(2, 5, 3), ("B", "T", 3), sizes=sizes)
    assert sizes == {"B": 2, "T": 5}
    check_shape("mask", torch.zeros(2, 5), ("B", "T"), sizes=sizes)
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\) = \(B,\) \(B = 2 .*got \(4,\)"):
        check_shape("lengths", torch.zeros(4), ("B",), sizes=sizes)


def test_check_params_returns_sizes_and_names_the_bad_entry():
    spec = {"U": ("n", "m"), "W": ("n", "n"), "V": ("K", "n"), "b": ("n",)}
    good = {"U": np.zeros((4, 3)), "W": np.zeros((4, 4)), "V": np.zeros((2, 4)), "b": np.zeros(4), "x": 1}
    assert check_params(good, spec) == {"n": 4, "m": 3, "K": 2}
    with pytest.raises(ValueError, match=r"params is missing \['b'\]; expected keys \['U', 'W', 'V', 'b'\]"):
        check_params({k: v for k, v in good.items() if k != "b"}, spec)
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(4, 4\)"):
        check_params({**good, "W": np.zeros((4, 5))}, spec)
    with pytest.raises(ValueError, match=r"params\['V'\] must have shape \(K, n\), got \(2, 4, 1\)"):
        check_params({**good, "V": np.zeros((2, 4, 1))}, spec)
    with pytest.raises(TypeError, match=r"weights\['U'\] must be a floating-point"):
        check_params({**good, "U": np.zeros((4, 3), dtype=int)}, spec, name="weights")
    with pytest.raises(TypeError, match=r"params\['U'\] must be a ndarray, got Tensor"):
        check_params({**good, "U": torch.zeros(4, 3)}, spec, array_type=np.ndarray)
    assert check_params({**good, "U": torch.zeros(4, 3)}, spec)["m"] == 3  # torch tensors are arrays too
    with pytest.raises(ValueError, match=r"params\['U'\] must have shape \(4, 7\)"):
        check_params(good, spec, sizes={"m": 7})


def test_check_floating_and_token_ids():
    check_floating("x", torch.zeros(2))
    check_floating("x", np.zeros(2, dtype=np.float32))
    for bad in (torch.zeros(2, dtype=torch.long), np.zeros(2, dtype=int), [0.0]):
        with pytest.raises(TypeError, match="x must be a floating-point"):
            check_floating("x", bad)
    check_token_ids("src", torch.tensor([[0, 4]]), vocab_size=5)
    with pytest.raises(TypeError, match="src must be a LongTensor"):
        check_token_ids("src", torch.tensor([[0.0, 4.0]]))
    with pytest.raises(ValueError, match="src must be a 2-D"):
        check_token_ids("src", torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\), got values in \[-1, 5\]"):
        check_token_ids("src", torch.tensor([[-1, 5]]), vocab_size=5)
    check_token_ids("src", torch.empty(2, 3, dtype=torch.long, device="meta"), vocab_size=5)  # values unknown


def test_check_int_range():
    check_int_range("min_len", 1, 1, 8)
    check_int_range("seq_len", 10**6, 2)
    cases = ((0, r"in \[1, 8\], got 0"), (9, r"in \[1, 8\], got 9"), (True, "got True"), (2.0, "got 2.0"))
    for bad, want in cases:
        with pytest.raises(ValueError, match=rf"min_len must be an int .*{want}"):
            check_int_range("min_len", bad, 1, 8)
    with pytest.raises(ValueError, match="seq_len must be an int >= 2, got 1"):
        check_int_range("seq_len", 1, 2)
