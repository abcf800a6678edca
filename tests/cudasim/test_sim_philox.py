"""Philox4x32-10: the NumPy reference against the published known answers, the device code
under the simulator against the reference bit for bit, and the dropout masks it keys."""
import numba
import numpy as np
import pytest
from numba import cuda

from minicirc.backends.cuda import philox

pytestmark = pytest.mark.cudasim


@cuda.jit
def one(c, k, out):
    # The round function alone, as a kernel calls it.
    if cuda.grid(1) == 0:
        w = philox.philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1])
        out[0], out[1], out[2], out[3] = w[0], w[1], w[2], w[3]

# Random123's known-answer vectors for philox4x32-10: counter (4 words), key (2 words), output.
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_reference_reproduces_the_known_answers(ctr, key, want):
    got = philox.philox4x32_10_reference(np.array(ctr, np.uint64), np.array(key, np.uint64))
    assert got.dtype == np.uint32
    assert tuple(int(w) for w in got) == want


def test_reference_is_vectorised_over_counters_and_keys():
    ctr = np.array([k[0] for k in KAT], np.uint64)
    key = np.array([k[1] for k in KAT], np.uint64)
    np.testing.assert_array_equal(philox.philox4x32_10_reference(ctr, key), np.array([k[2] for k in KAT], np.uint32))


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_device_function_reproduces_the_known_answers(ctr, key, want):
    out = np.zeros(4, np.uint64)
    one[1, 1](np.array(ctr, np.uint64), np.array(key, np.uint64), out)
    assert tuple(int(w) for w in out) == want


def test_device_function_types_as_numba_compiles_it():
    # The simulator runs device code as Python; Numba's CPU compiler types the same function
    # as the CUDA target would (uint64 throughout, never float64), so a typing slip fails here.
    compiled = numba.njit(philox.philox4x32_10.py_func)
    u = np.uint64
    for ctr, key, want in KAT:
        got = compiled(*(u(c) for c in ctr), *(u(k) for k in key))
        assert tuple(int(w) for w in got) == want


@pytest.mark.parametrize("size", [1, 7, 8, 1001, 4096])
@pytest.mark.parametrize("seed, step, layer", [(0, 0, 0), (20150211, 37, 2), (2**64 - 1, 2**40 + 5, 2**32 - 1)])
def test_kernel_equals_the_reference_bit_for_bit(size, seed, step, layer):
    got = philox.mask_words(size, seed, layer, np.array([step], np.int64))
    want = philox.mask_words_reference(seed, step, layer, size)
    assert got.dtype == np.uint32 and got.shape == (size,)
    np.testing.assert_array_equal(got, want)


def test_each_element_takes_its_own_word_of_its_block():
    words = philox.mask_words_reference(5, 3, 1, 10)
    blocks = philox.philox4x32_10_reference(np.array([[0, 1, 3, 0], [1, 1, 3, 0], [2, 1, 3, 0]], np.uint64),
                                            np.array([5, 0], np.uint64))
    np.testing.assert_array_equal(words, blocks.reshape(-1)[:10])


def test_masks_differ_across_steps_seeds_and_layers():
    base = philox.keep_mask_reference(7, 10, 0, (64, 33), 0.5)
    for other in [(8, 10, 0), (7, 11, 0), (7, 10, 1), (7 + 2**32, 10, 0), (7, 10 + 2**32, 0)]:
        m = philox.keep_mask_reference(*other, (64, 33), 0.5)
        # Independent masks at p = 0.5 agree on about half the elements, never on all.
        assert 0.4 < float((m == base).mean()) < 0.6, other
    np.testing.assert_array_equal(philox.keep_mask_reference(7, 10, 0, (64, 33), 0.5), base)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate(p):
    size = 200_000
    keep = philox.keep_mask_reference(123, 4, 3, size, p).mean()
    exact = 1 - philox.keep_threshold(p) / 2**24
    assert abs(exact - (1 - p)) <= 2**-24
    # Binomial: 5 standard deviations.
    assert abs(keep - exact) < 5 * np.sqrt(p * (1 - p) / size), (keep, exact)


def test_the_threshold_is_the_uniform_rule():
    # keep iff (w >> 8) 2^-24 >= p, for words on both sides of each boundary.
    for p in [0.1, 0.25, 0.5, 1 / 3, 0.999]:
        t = philox.keep_threshold(p)
        for top in [t - 1, t, t + 1]:
            if 0 <= top < 2**24:
                w = np.array([top << 8 | 0xAB], np.uint32)
                u = philox.uniform_reference(w)[0]
                assert (int(w[0]) >> 8 >= t) == (float(u) >= p), (p, top)
    assert philox.keep_threshold(0.0) == 0


def test_uniforms_lie_in_the_unit_interval():
    u = philox.uniform_reference(np.array([0, 2**32 - 1, 255, 256], np.uint32))
    assert u.dtype == np.float32 and u[0] == 0.0 and u[1] < 1.0 and u[2] == 0.0 and u[3] == 2.0**-24


@pytest.mark.parametrize("call, match", [
    (lambda: philox.split_seed(-1), "seed must be an integer"),
    (lambda: philox.split_seed(2**64), "seed must be an integer"),
    (lambda: philox.split_seed(1.5), "seed must be an integer"),
    (lambda: philox.keep_threshold(1.0), "dropout rate p"),
    (lambda: philox.keep_threshold(-0.1), "dropout rate p"),
    (lambda: philox.mask_words_reference(0, -1, 0, 4), "step must be"),
    (lambda: philox.mask_words_reference(0, 0, 2**32, 4), "layer id"),
    (lambda: philox.mask_words(4, 0, 0, np.array([0], np.int32)), "one-element int64 array"),
    (lambda: philox.philox4x32_10_reference(np.zeros(3, np.uint64), np.zeros(2, np.uint64)), "ctr must hold"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
