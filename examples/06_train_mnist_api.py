"""Training the circulant MLP on MNIST through the Python API: what `minicirc train` does.

The model is Cheng et al.'s circulant MLP with the default recipe of `minicirc train`
(minicirc/mnist/recipes.py): the input zero-padded to 1024 by the first circulant layer, two
circulant layers with sign flips, ReLU and the recipe's dropout (0.1), a dense output layer;
AdamW with the recipe's learning rate and weight decay (5e-3 and 0.1, read from
minicirc/mnist/recipes.py) and cosine decay; batches of 128. Built by hand here, layer by layer,
with the loop written out: load, batch, forward, loss, backward, step, evaluate.

    python examples/06_train_mnist_api.py            # 15 epochs on 60,000 images (2 CPU cores: ~2 s an epoch)
    python examples/06_train_mnist_api.py --fast     # 3,000 images, 1 epoch (seconds; the tests)

It then checks what can be checked: the parameter count, the starting loss against log(10),
the model's gradients (directional check_model), the loss going down, the test error against
chance, and evaluate() against counting by hand.
"""
# %%
import argparse
import math
import os
import sys
import time

import numpy as np

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.batches import Batches
from minicirc.mnist import load_mnist
from minicirc.gradcheck import check_model
from minicirc.optim import cosine_lr
from minicirc.mnist.recipes import RECIPES
from minicirc.mnist.train import evaluate


# %% [markdown]
# The settings: `--fast` on the command line; in a notebook, whose kernel has a command line
# of its own, the environment variable `MINICIRC_EXAMPLES_FAST=1`.

# %%
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--fast", action="store_true", help="3,000 training images, 1 epoch (for the tests)")
parser.add_argument("--epochs", type=int, default=None, help="default: 15, or 1 with --fast")
parser.add_argument("--seed", type=int, default=0)
# A notebook's kernel was started with a command line of its own (-f connection file).
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
args.fast = args.fast or os.environ.get("MINICIRC_EXAMPLES_FAST") == "1"
epochs = args.epochs or (1 if args.fast else 15)
recipe = RECIPES["circulant"]                # what minicirc train uses for this model
lr, decay, p_drop, batch_size = recipe["lr"], recipe["weight_decay"], recipe["dropout"], 128


# %% [markdown]
# ## Load, build, train
#
# The loop written out: batch, forward, loss, backward, step; then evaluate on the test set.

# %%
# [docs:train-mnist]
data = load_mnist()                          # the bundled copy, checksums verified
X, y = data.train                            # float32 (60000, 784) in [0, 1]; int64 labels
if args.fast:
    X, y = X[:3000], y[:3000]

seeds = np.random.SeedSequence(args.seed).spawn(6)     # one generator per random thing
rngs = [np.random.default_rng(s) for s in seeds]
model = mc.Sequential(
    mc.Circulant(784, 1024, rng=rngs[0]), mc.ReLU(), mc.Dropout(p_drop, rng=rngs[1]),
    mc.Circulant(1024, 1024, rng=rngs[2]), mc.ReLU(), mc.Dropout(p_drop, rng=rngs[3]),
    mc.Dense(1024, 10, rng=rngs[4]),
)
loss = mc.SoftmaxCrossEntropy()
opt = mc.AdamW(model, lr=lr, weight_decay=decay)       # decoupled decay, as the recipe
batches = Batches(X, y, batch_size, seed=rngs[5])       # reshuffled every epoch
total_steps = epochs * len(batches)

losses = []
for epoch in range(epochs):
    start = time.perf_counter()
    model.train()                            # dropout on
    for xb, yb in batches:
        opt.lr = cosine_lr(lr, opt.t, total_steps)
        losses.append(float(loss.forward(model.forward(xb), yb)))
        model.backward(loss.backward())
        opt.step()
    test = evaluate(model, *data.test)       # dropout off inside, error over 10,000 images
    print(f"epoch {epoch + 1}/{epochs}: train loss {np.mean(losses[-len(batches):]):.4f}, "
          f"test error {100 * test['error']:.2f}%, {time.perf_counter() - start:.1f} s")
# [/docs:train-mnist]

# %% [markdown]
# ## What can be checked

# %%
print()
print(model)
print()
checks = Checks(f"Training the circulant MLP through the API ({'--fast' if args.fast else 'full'}: "
                f"{len(X)} images, {epochs} epoch{'s' * (epochs > 1)})")
# r and b of each circulant layer (n = 1024 each), W and b of the dense output layer
checks.exact("trainable parameters vs 2*(1024+1024)+10250", model.num_params(),
             2 * (1024 + 1024) + 1024 * 10 + 10, 0)
checks.claim("first-batch loss vs log(10) = 2.3026", f"{losses[0]:.4f}", "within 0.5 (random start)",
             abs(losses[0] - math.log(10)) < 0.5)
checks.claim("mean loss, last 10 steps", f"{np.mean(losses[-10:]):.4f}", f"< first ({losses[0]:.4f}) / 2",
             np.mean(losses[-10:]) < losses[0] / 2)
limit = 0.35 if args.fast else 0.10
checks.claim("test error after training", f"{test['error']:.4f}", f"< {limit} (chance: 0.9)", test["error"] < limit)
Xt, yt = data.test
by_hand = np.mean(np.concatenate([model.eval().forward(Xt[i:i + 1000]).argmax(axis=1)
                                  for i in range(0, len(Xt), 1000)]) != yt)
checks.exact("evaluate() error vs argmax counted by hand", test["error"], by_hand, 0)
# The trained model's gradients, through the loss and dropout (float64 copy, 4 images,
# one random direction per array: the whole model has 15,000 parameters).
model.train()
for name, err in check_model(model, loss, X[:4], y[:4], directional=True).items():
    checks.bound(f"check_model(directional): {name}", err, 1e-6)
# %%
checks.done()
