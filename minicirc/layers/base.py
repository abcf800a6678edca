"""The layer protocol every layer follows.

- ``params``: name -> array of trainable parameters; ``grads``: the same keys and shapes,
  filled by ``backward``.
- ``buffers``: name -> array of state that is saved with the model but not trained
  (the circulant layer's ``signs``).
- ``forward(x)`` stores what ``backward`` needs in ``self.cache`` (one explicit cache);
  ``backward(dy)`` reads it, fills ``grads`` and returns ``dx``.
- ``dtype``: float32 or float64, what the layer computes in. A parameter-free layer
  (``follows_input_dtype``) built without one has ``dtype = None`` and computes in its
  input's float dtype, so a hand-built float64 model stays float64 between its layers.
- A layer may hold other layers (``named_children``; ``Sequential`` does): its
  ``named_parameters``, ``named_buffers``, ``named_grads``, ``state_dict``, ``train``,
  ``astype`` and ``num_params`` cover them, named by dotted paths such as ``"1.0.r"``.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from .._args import _FLOATS, check_dtype, check_flag, check_positive, check_int, check_rng
from ..backends import Backend, get_backend, to_host


class NonFiniteError(ValueError):
    """A layer met NaN or Inf in its input (the trainer turns this into a clean stop)."""


def _host_copy(a: Any) -> np.ndarray:
    """A NumPy copy of a host or device array (never a view of the layer's own array)."""
    return np.array(to_host(a), copy=True)


class Layer:
    """Base class of every layer: bookkeeping and input checks shared by all of them.

    To write a layer (docs/gradcheck.md walks through one): call
    ``super().__init__(dtype=..., backend=...)``; check the constructor's own arguments with
    ``self.check_sizes(d=d)``, ``self.check_gain(gain)`` and ``self.generator(rng)``; put
    trainable arrays in ``self.params`` and state that is saved but not trained in
    ``self.buffers``. ``forward(x)`` validates ``x`` with ``self.check_input(x, width)`` (a batch of images: ``self.check_images``),
    computes ``y`` and stores what ``backward`` needs in ``self.cache``. ``backward(dy)``
    reads it back with ``self.cached()`` (which says so if forward never ran), validates
    ``dy`` with ``self.check_dy(dy, shape)``, fills ``self.grads`` with the keys and shapes
    of ``params``, and returns ``dx``. The checks raise errors that name the layer and the
    expected and actual shape or dtype. ``self.compute_dtype(x)`` is the dtype to compute
    in. ``minicirc.gradcheck.check_layer(layer, x)`` then checks every gradient.
    """

    #: True for layers without parameters (activations, dropout): with ``dtype=None`` they
    #: follow their input's dtype. A layer with parameters has one dtype, that of its arrays.
    follows_input_dtype = False

    def __init__(self, *, dtype: Any = np.float32, backend: Any = None) -> None:
        follow = dtype is None and self.follows_input_dtype
        self.dtype: Optional[np.dtype] = None if follow else self._check_dtype(dtype)
        try:
            self.backend: Backend = get_backend(backend)
        except (TypeError, ValueError) as e:        # get_backend's words do not name the layer
            raise type(e)(f"{type(self).__name__}: {e}") from None
        self.params: Dict[str, Any] = {}
        self.grads: Dict[str, Any] = {}
        self.buffers: Dict[str, Any] = {}
        self.training = True
        self.cache: Optional[tuple] = None

    # -- the protocol ---------------------------------------------------------
    def forward(self, x: Any) -> Any:
        raise NotImplementedError

    def backward(self, dy: Any) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        # A method, not ``__call__ = forward``: that would bind this base class's forward.
        return self.forward(x)

    def train(self, mode: bool = True) -> "Layer":
        """Switch this layer and every layer inside it between training and evaluation."""
        if not isinstance(mode, (bool, np.bool_)):       # train("no") would be truthy: dropout on
            raise TypeError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    # -- the arrays, by name (PyTorch's names) ---------------------------------
    def named_children(self) -> Iterator[Tuple[str, "Layer"]]:
        """``(name, layer)`` for each layer held directly inside this one; none here."""
        return iter(())

    def _is_container(self) -> bool:
        return any(True for _ in self.named_children())

    def modules(self) -> Iterator["Layer"]:
        """This layer, then every layer inside it, depth first."""
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def _walk(self, items: Callable[["Layer"], Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
        for k, v in items(self):
            yield prefix + k, v
        for name, child in self.named_children():
            yield from child._walk(items, f"{prefix}{name}.")

    def named_parameters(self) -> Iterator[Tuple[str, Any]]:
        """``(name, array)`` for every trainable parameter: ``"r"`` in a layer, ``"0.r"`` in
        a Sequential, ``"1.0.r"`` one level deeper. The arrays themselves, not copies."""
        return self._walk(lambda m: m.params.items())

    def parameters(self) -> Iterator[Any]:
        """Every trainable parameter array, in ``named_parameters`` order."""
        return (p for _, p in self.named_parameters())

    def named_buffers(self) -> Iterator[Tuple[str, Any]]:
        """``(name, array)`` for the state that is saved but never trained (``signs``)."""
        return self._walk(lambda m: m.buffers.items())

    def named_grads(self) -> Iterator[Tuple[str, Any]]:
        """``(name, gradient)`` for every parameter, in ``named_parameters`` order; the
        gradient is None until a ``backward`` fills it. What an optimizer reads."""
        return self._walk(lambda m: ((k, m.grads.get(k)) for k in m.params))

    def num_params(self) -> int:
        """Number of trainable scalars (``buffers`` such as ``signs`` do not count)."""
        return int(sum(int(np.prod(p.shape)) for p in self.parameters()))

    def _named_arrays(self) -> List[Tuple[str, Any, "Layer"]]:
        """(name, array, the layer that holds it) for every parameter, then buffer, of each layer."""
        return [(name, v, m) for name, (v, m) in self._walk(
            lambda m: ((k, (v, m)) for store in (m.params, m.buffers) for k, v in store.items()))]

    def state_dict(self) -> Dict[str, np.ndarray]:
        """``{name: array}`` for every parameter and buffer, as NumPy copies on the host.

        Copies, so the dict is a snapshot (training on does not change it) that
        ``np.savez(path, **model.state_dict())`` can write whatever the backend."""
        return {name: _host_copy(v) for name, v, _ in self._named_arrays()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> Tuple[List[str], List[str]]:
        """Copy ``state`` (a ``state_dict``) into this layer's arrays, in place.

        Every key, shape and dtype is checked before anything is copied, so a refused state
        leaves the layer as it was; the error names the key and the expected and actual
        shape or dtype. ``strict=True`` refuses missing and unexpected keys; with
        ``strict=False`` only the keys present in both are loaded. Returns
        ``(missing, unexpected)``, the key lists, as PyTorch does.
        """
        who = f"{type(self).__name__}.load_state_dict"
        check_flag(who, "strict", strict)
        if not isinstance(state, Mapping):
            raise TypeError(f"{who}: state must be a mapping of name -> array (a state_dict()), "
                            f"got {type(state).__name__}")
        targets = self._named_arrays()
        names = [t[0] for t in targets]
        missing = [k for k in names if k not in state]
        unexpected = sorted(k for k in state if k not in set(names))
        if strict and (missing or unexpected):
            raise ValueError(f"{who}: the state does not fit this model: missing keys {missing[:5]}"
                            f"{' ...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
                            f"{' ...' if len(unexpected) > 5 else ''}")
        for name, target, _ in targets:
            if name not in state:
                continue
            v = state[name]
            shape, dtype = tuple(getattr(v, "shape", np.shape(v))), getattr(v, "dtype", None)
            if shape != tuple(target.shape):
                raise ValueError(f"{who}: {name!r} has shape {shape} in the state, the model "
                                 f"expects {tuple(target.shape)}")
            if dtype is None or np.dtype(dtype) != target.dtype:
                raise ValueError(f"{who}: {name!r} has dtype {dtype} in the state, the model "
                                 f"expects {target.dtype}")
        for name, target, m in targets:
            if name in state:
                target[...] = m.backend.asarray(state[name])
        return missing, unexpected

    def astype(self, dtype: Any) -> "Layer":
        """A deep copy of this layer with parameters and buffers cast to ``dtype``.

        The original is unchanged, so an optimizer built on it still updates the original:
        build the optimizer for the copy."""
        for m in self.modules():                 # refused in the name of a layer, not its container
            if not m._is_container():
                m._check_dtype(dtype)
        dtype = self._check_dtype(dtype)
        clone = copy.deepcopy(self)
        for m in clone.modules():
            if not m._is_container():
                m.dtype = dtype                  # a container (Sequential) keeps dtype None
            for store in (m.params, m.buffers):
                for k, v in store.items():
                    if np.issubdtype(v.dtype, np.floating):
                        # C order: gradcheck perturbs these in place through a flat view.
                        store[k] = v.astype(dtype, order="C")
            m.grads = {}
            m.cache = None
        return clone

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        # dtype and backend only where they are not the defaults: they are what tells two
        # otherwise equal layers apart in an error message or a model's listing.
        extra = [e for e in (self.extra_repr(),) if e]
        if self.dtype is not None and self.dtype != np.float32:
            extra.append(f"dtype={self.dtype.name}")
        if self.backend.name != "numpy":
            extra.append(f"backend={self.backend.name!r}")
        return f"{type(self).__name__}({', '.join(extra)})"

    # -- for layer authors: argument checks (the rules live in minicirc/_args.py) ------
    def _check_dtype(self, dtype: Any) -> np.dtype:
        return check_dtype(type(self).__name__, dtype)

    def check_sizes(self, **sizes: Any) -> None:
        """Constructor sizes must be positive integers (bools and floats are refused)."""
        for name, v in sizes.items():
            check_int(type(self).__name__, name, v)

    def check_flag(self, **flags: Any) -> bool:
        """One True-or-False argument, ``self.check_flag(bias=bias)``: ``"no"`` is refused,
        not taken as true. Returns it as a bool."""
        ((name, v),) = flags.items()
        return check_flag(type(self).__name__, name, v)

    def check_gain(self, gain: Any) -> float:
        """The initialisation's variance factor: a NaN or non-positive gain gives NaN or zero weights."""
        return check_positive(type(self).__name__, "gain", gain)

    def generator(self, rng: Any) -> np.random.Generator:
        """``np.random.default_rng(rng)``, with an error that names the layer."""
        return check_rng(type(self).__name__, rng)

    def compute_dtype(self, a: Any) -> np.dtype:
        """The dtype to compute ``a`` in: the layer's, or with ``dtype=None`` the input's own
        (float32 or float64; another floating dtype such as float16 is computed in float32)."""
        if self.dtype is not None:
            return self.dtype
        return a.dtype if a.dtype in _FLOATS else np.dtype(np.float32)

    def _init_spectral(self, r_shape: tuple, n_signs: int, gain: float, rng: Any, sign_flip: bool) -> None:
        """``r ~ N(0, gain / d_in)``, ``b = 0`` and the +/-1 ``signs``: the circulant family's
        initialisation (Circulant, BlockCirculant), drawn from one generator in that order.
        Here, not in circulant.py, because both layers share it; it reads the ``d_in``,
        ``d_out`` and ``bias`` that their constructors set first."""
        rng = self.generator(rng)
        r = rng.standard_normal(r_shape) * np.sqrt(gain / self.d_in)
        s = rng.choice([-1.0, 1.0], size=n_signs) if sign_flip else np.ones(n_signs)
        bk = self.backend
        self.params["r"] = bk.asarray(r.astype(self.dtype))
        if self.bias:
            self.params["b"] = bk.asarray(np.zeros(self.d_out, self.dtype))
        self.buffers["signs"] = bk.asarray(s.astype(self.dtype))

    def cached(self) -> tuple:
        if self.cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward(); run forward first")
        return self.cache

    def check_input(self, x: Any, width: Optional[int], what: str = "input") -> Any:
        """Validate a (batch, width) floating array and return it in the layer's dtype.

        ``width=None`` accepts any width and any trailing shape (batch, ...): an elementwise
        layer takes a batch of vectors or of images alike. The layer's name is formatted only
        when there is an error to report: this runs on every forward.
        """
        x = self._as_float_array(x, what)
        bad_ndim = x.ndim < 2 if width is None else x.ndim != 2
        if bad_ndim or (width is not None and x.shape[1] != width) or x.shape[0] == 0:
            expected = f"(batch, {width})" if width is not None else "(batch, features)"
            if bad_ndim:
                raise ValueError(f"{self!r}: expected {what} of shape {expected}, got shape "
                                 f"{tuple(x.shape)} ({x.ndim}-D)")
            if x.shape[0] == 0:
                raise ValueError(f"{self!r}: {what} has a batch of zero rows (shape {tuple(x.shape)})")
            raise ValueError(f"{self!r}: expected {what} of shape {expected}, got shape {tuple(x.shape)}")
        return self._cast_finite(x, what)

    def check_images(self, x: Any, channels: Optional[int], min_hw: Tuple[int, int],
                      window: str = "", what: str = "input") -> Any:
        """Validate a batch of images (batch, channels, height, width) and return it in the
        layer's dtype, as ``check_input`` does for vectors.

        ``channels=None`` accepts any channel count. ``min_hw`` is the smallest image
        (height, width) the layer can slide its window over; ``window`` names that window
        in the error (e.g. "5x5 kernel with padding 1").
        """
        x = self._as_float_array(x, what)
        c = "channels" if channels is None else str(channels)
        expected = f"(batch, {c}, height, width)"
        if x.ndim != 4:
            raise ValueError(f"{self!r}: expected {what} of shape {expected}, got shape "
                             f"{tuple(x.shape)} ({x.ndim}-D); images travel as (batch, channels, height, width)")
        if x.shape[0] == 0:
            raise ValueError(f"{self!r}: {what} has a batch of zero images (shape {tuple(x.shape)})")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"{self!r}: expected {what} of shape {expected} ({channels} channels), got "
                             f"shape {tuple(x.shape)} ({x.shape[1]} channels)")
        (mh, mw), (h, w) = min_hw, x.shape[2:]
        if h < mh or w < mw:
            raise ValueError(f"{self!r}: expected {what} of shape (batch, {c}, height >= {mh}, width >= {mw}), "
                             f"got shape {tuple(x.shape)}: a {h}x{w} image is smaller than the {window}")
        return self._cast_finite(x, what)

    def _as_float_array(self, x: Any, what: str) -> Any:
        """``x`` as this backend's array, refusing anything but floating point."""
        bk = self.backend
        if not bk.is_array(x):
            try:
                x = bk.asarray(x)
            except Exception as e:  # e.g. a CuPy array handed to the NumPy backend
                raise TypeError(f"{self!r}: {what} must be an array for the {bk.name} backend, "
                                f"got {type(x).__name__}") from e
        if x.dtype.kind != "f":
            raise TypeError(f"{self!r}: {what} must be a floating-point array, got dtype {x.dtype}")
        return x

    def _cast_finite(self, x: Any, what: str) -> Any:
        """``x`` cast to the compute dtype, refusing NaN or Inf (where the backend checks)."""
        bk = self.backend
        # Cast, never promote: a float64 batch into a float32 layer is computed in float32.
        # Cast first, check after: 1e39 is finite in float64 and infinite in float32.
        dtype = self.compute_dtype(x)
        with np.errstate(over="ignore"):            # the check below says it, with the layer
            cast = x.astype(dtype, copy=False)
        # A backend property, not a branch on which backend: where the check costs a device
        # synchronisation (a GPU), the backend turns it off and the loss check catches NaN.
        if bk.check_finite and not bk.all_finite(cast):
            if cast is not x and bk.all_finite(x):
                raise NonFiniteError(f"{self!r}: {what} has values beyond the range of {dtype} "
                                     f"(largest magnitude {float(abs(x).max()):.3g}), which the "
                                     f"cast to {dtype} makes infinite")
            raise NonFiniteError(f"{self!r}: {what} contains NaN or Inf")
        return cast

    def check_dy(self, dy: Any, shape: tuple, dtype: Any = None) -> Any:
        """Validate ``dy`` against the last forward's output ``shape`` and cast it to ``dtype``
        (the last forward's, for a layer that follows its input; else the layer's)."""
        bk = self.backend
        if not bk.is_array(dy):
            dy = bk.asarray(dy)
        # Complex dy would lose its imaginary part in the cast below (a warning at best), and
        # bool or object is no gradient; integers are real numbers and cast exactly enough.
        if dy.dtype.kind not in "fiu":
            raise TypeError(f"{self!r}: backward expected a real dy (floating-point or integer), got dtype {dy.dtype}")
        if tuple(dy.shape) != tuple(shape):
            raise ValueError(f"{self!r}: backward expected dy of shape {tuple(shape)} (the output of the last forward), got {tuple(dy.shape)}")
        # Not checked for NaN: a non-finite dy comes from a non-finite loss, which the trainer
        # stops at, and a check per layer per backward would double the cost of the forward's
        # input checks for nothing.
        return dy.astype(dtype if dtype is not None else self.compute_dtype(dy), copy=False)
