"""``python -m minicirc`` is the ``minicirc`` command (``command`` is its console entry point).

Nothing heavy is imported before the ``try``: the package itself loads no NumPy (see
``minicirc/__init__.py``), so a Ctrl-C while the command's modules import ends as one line
and exit status 130, as it does anywhere later (``cli.main``).
"""
import os
import signal
import sys


def command() -> int:
    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:   # Python's default, remembered
        nonlocal interrupted
        interrupted = True
        # The process is ending: objects that a Ctrl-C cut short in their construction (say,
        # in a library's import) complain from __del__ as they go ("Exception ignored in ...",
        # with a traceback); they are the interruption's debris, not news for the user.
        sys.unraisablehook = lambda unraisable: None
        # A C extension whose import the Ctrl-C cut (NumPy's import_array() in SciPy's or
        # Numba's) prints the KeyboardInterrupt with PyErr_Print, through sys.excepthook, and
        # raises an ImportError, which the except below turns into the one line.
        hook = sys.excepthook
        sys.excepthook = lambda kind, value, tb: None if issubclass(kind, KeyboardInterrupt) else hook(kind, value, tb)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        from .mnist.cli import main

        code = main()
    except KeyboardInterrupt:            # during the imports, before main could catch it
        print("minicirc: interrupted", file=sys.stderr)
        code = 130
    except ImportError:
        # A Ctrl-C inside NumPy's C-extension imports comes out as NumPy's "Importing the numpy
        # C-extensions failed" ImportError: it was the Ctrl-C, not a broken install.
        if not interrupted:
            raise
        print("minicirc: interrupted", file=sys.stderr)
        code = 130
    # The work is done and said: a Ctrl-C now, while the interpreter shuts down, would only
    # add a traceback from its exit handlers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if interrupted:
        # This handler saw the Ctrl-C, so it fell outside training (whose own handler ends an
        # epoch and writes its files first): in an import, the data or the model being built,
        # where nothing of minicirc's is open or half written. A Ctrl-C inside a C extension's
        # import can leave that module half initialised, and its teardown at interpreter exit
        # then aborts the process ("Fatal Python error: PyThreadState_Get ...") after the one
        # line was said. Ending without that teardown says the line and nothing after it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(command())
