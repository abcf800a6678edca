"""A training run of an MNIST MLP written out with minicirc's public calls, for the benchmarks
to time and profile: no trainer, no checkpoints, no evaluation, no metrics read back.

The model, recipe, seeds and batches are those ``minicirc train`` builds from the same
``TrainConfig``; one epoch is the loop every user writes::

    for xb, yb in batches:
        opt.lr = schedule(lr, step, total_steps, warmup)
        train_step(model, loss, opt, xb, yb)   # forward and loss, backward, update
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from minicirc import SoftmaxCrossEntropy, get_backend, train_step
from minicirc.batches import Batches
from minicirc.mnist import MNIST, load_mnist
from minicirc.mnist.config import SCHEDULES, TrainConfig
from minicirc.mnist.models import architecture, build_mlp
from minicirc.mnist.train import make_optimizer


class TrainingRun:
    """The model, loss, optimizer and batches of ``config`` (checked by ``TrainConfig.resolved``,
    which raises ``ConfigError`` for a bad setting); ``data`` spares a second load of MNIST."""

    def __init__(self, config: TrainConfig, data: Optional[MNIST] = None) -> None:
        c = self.config = config.resolved()
        self.arch = architecture(c.model, hidden=c.hidden, layers=c.layers, sign_flip=c.sign_flip,
                                 dropout=c.dropout, block=c.block)
        self.backend = get_backend(c.backend)
        if data is None:
            data = load_mnist(c.data, validation=c.validation, seed=c.seed)
        X, y = data.train
        if c.train_limit:
            X, y = X[: c.train_limit], y[: c.train_limit]
        model_seed, data_seed = np.random.SeedSequence(c.seed).spawn(2)
        self.model = build_mlp(self.arch, seed=int(model_seed.generate_state(1)[0]), dtype=c.dtype,
                               backend=self.backend)
        self.batches = Batches(self.backend.asarray(X), self.backend.asarray(y), c.batch_size,
                               seed=np.random.default_rng(data_seed))
        self.loss = SoftmaxCrossEntropy(check_labels=False)   # MNIST's labels were checked on load
        self.opt = make_optimizer(c, self.model)
        self.schedule = SCHEDULES[c.schedule]
        self.total_steps = c.epochs * len(self.batches)
        self.step = 0                   # optimizer steps taken

    def epoch(self) -> float:
        """One pass over the training batches (forward, loss, backward, step); its seconds."""
        c, model, loss, opt = self.config, self.model, self.loss, self.opt
        model.train()
        start = time.perf_counter()
        for xb, yb in self.batches:
            opt.lr = self.schedule(c.lr, self.step, self.total_steps, c.warmup)
            train_step(model, loss, opt, xb, yb)
            self.step += 1
        return time.perf_counter() - start
