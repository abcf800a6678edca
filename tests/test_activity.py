"""dead_units: the ReLU units that no image makes positive, counted per ReLU layer."""
import numpy as np

import minicirc as mc
from minicirc.mnist.activity import dead_units


def model():
    return mc.Sequential(mc.Dense(6, 5, rng=0, dtype=np.float64), mc.ReLU(), mc.Dropout(0.5, rng=1),
                         mc.Dense(5, 4, rng=2, dtype=np.float64), mc.ReLU(), mc.Dense(4, 3, rng=3, dtype=np.float64))


def test_counts_the_units_never_positive_and_leaves_the_mode_alone():
    m = model()
    X = np.random.default_rng(0).standard_normal((50, 6))
    m.layers[0].params["b"][[1, 3]] = -1e3          # two units of the first layer can never fire
    m.layers[3].params["b"][:] = -1e3               # nor any of the second's
    m.train()
    rows = dead_units(m, X, batch=7)                 # batches that do not divide the set
    assert [(r["index"], r["dead"], r["units"]) for r in rows] == [(1, 2, 5), (4, 4, 4)]
    assert rows[0]["after"].startswith("Dense(6, 5") and m.training    # training mode restored
    # the count is against a slow check: a unit is alive iff some image makes it positive
    h = np.maximum(X @ m.layers[0].params["W"] + m.layers[0].params["b"], 0)
    assert rows[0]["dead"] == int((~(h > 0).any(axis=0)).sum())


def test_a_healthy_model_has_few_dead_units_and_images_count_per_pixel():
    cnn = mc.Sequential(mc.Conv2D(1, 3, 3, rng=0), mc.MaxPool2D(2), mc.ReLU(), mc.Flatten())
    rows = dead_units(cnn, np.random.default_rng(1).standard_normal((20, 1, 9, 9)).astype(np.float32))
    assert [(r["index"], r["units"]) for r in rows] == [(2, 3 * 3 * 3)] and rows[0]["dead"] < 27
