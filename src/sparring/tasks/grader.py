"""The bounded grading worker: third-party graders that parse model output run here, in a
separate process, never in the caller's.

sparring's own verifiers never ``eval`` and parse model output with bounded hand-written
grammars. Two graders it wraps do not: math-verify (the ``math`` task) turns an answer
into a sympy expression (LaTeX through an ANTLR grammar, plain text through sympy's
``parse_expr``) and compares it symbolically, and reasoning-gym's scorers (the ``rg:NAME``
tasks) are arbitrary Python, some of them calling ``parse_expr`` on the answer. That is
the one exception to "never eval" (docs/tasks.md), and it is fenced in:

- **input capped**: a request larger than ``MAX_REQUEST_CHARS`` is refused before it is
  sent (each task caps its answer tag far below that);
- **a separate process** (``python -m sparring.tasks.grader``, JSON lines over its stdin
  and stdout), started on first use and shared by every task of the process, its address
  space limited to ``MEMORY_LIMIT_BYTES`` (a huge power fails with MemoryError there,
  not in the caller);
- **a hard timeout per item enforced from outside**: the caller waits at most
  ``timeout_s`` for the answer line, then kills the worker (SIGKILL) and reports a
  timeout; math-verify's own ``signal.alarm`` timeouts are switched off inside (they
  only work on a main thread, and are not a bound the caller can rely on);
- **restarted after a crash or timeout**: a worker that died (killed, segfault, out of
  memory) or timed out is replaced on the next request. Starting it and importing a
  grader (``{"load": name}``, answered ``loaded``; math-verify and sympy, or
  reasoning-gym) are bounded separately (``START_TIMEOUT_S``), so a slow import never
  eats an item's time.

Every failure (timeout, crash, grader exception, oversize input) comes back as
``Graded(ok=False, error=...)``; the tasks count it as a wrong answer, so grading never
raises and never hangs past the bound. The graders themselves are named in ``GRADERS``
(name -> "module:function"), imported lazily inside the worker.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any, NamedTuple

GRADERS = {
    "math": "sparring.tasks.math.grade:equal",  # math-verify, the gold first
    "rg": "sparring.tasks.gym.grade:score",  # a reasoning-gym dataset's own scorer
}
MAX_REQUEST_CHARS = 65_536
MEMORY_LIMIT_BYTES = 4 << 30
DEFAULT_TIMEOUT_S = 5.0
_EOF = "\x00eof"
START_TIMEOUT_S = 120.0  # starting the worker and importing a grader (not an item's time)


class Graded(NamedTuple):
    ok: bool
    value: Any = None
    error: str = ""


class GradingWorker:
    """One worker process and the requests to it (thread-safe; one request at a time)."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        if not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 600:
            raise ValueError(f"grading timeout: must be in (0, 600] seconds (got {timeout_s!r})")
        self.timeout_s = float(timeout_s)
        self.proc: subprocess.Popen | None = None
        self.loaded: set[str] = set()  # graders whose modules the worker has imported
        self.restarts = 0  # workers replaced after a crash or a timeout
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "sparring.tasks.grader"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None
            self.restarts += 1

    def close(self) -> None:
        with self._lock:
            self._kill()

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def call(self, grader: str, *args: Any, timeout_s: float | None = None) -> Graded:
        """Run ``GRADERS[grader](*args)`` in the worker; never raises, never waits longer
        than the timeout (starting the worker and loading the grader are bounded apart)."""
        if grader not in GRADERS:
            return Graded(False, error=f"unknown grader {grader!r}")
        line = json.dumps({"grader": grader, "args": list(args)})
        if len(line) > MAX_REQUEST_CHARS:
            return Graded(False, error=f"input over {MAX_REQUEST_CHARS} characters: not graded")
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                if self.proc is not None:
                    self._kill()
                self.proc, self.loaded = self._start(), set()
                if self._read_line(START_TIMEOUT_S) != "ready":
                    self._kill()
                    return Graded(False, error="the grading worker did not start")
            if grader not in self.loaded:  # its imports are not part of an item's time
                ok = self._send(json.dumps({"load": grader})) and self._read_line(START_TIMEOUT_S) == "loaded"
                if not ok:
                    self._kill()
                    return Graded(False, error=f"the grading worker could not load {grader!r}")
                self.loaded.add(grader)
            if not self._send(line):
                self._kill()
                return Graded(False, error="the grading worker crashed")
            reply = self._read_line(self.timeout_s if timeout_s is None else timeout_s)
            if reply is None or reply == _EOF:
                self._kill()
                return Graded(False, error="timed out: not graded" if reply is None else "the grading worker crashed")
        try:
            out = json.loads(reply)
            return Graded(bool(out["ok"]), out.get("value"), str(out.get("error", ""))[:200])
        except (ValueError, KeyError, TypeError):
            return Graded(False, error="unreadable reply from the grading worker")

    def _send(self, line: str) -> bool:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def _read_line(self, timeout_s: float) -> str | None:
        """One line from the worker within ``timeout_s`` (None: timeout; ``_EOF``: the
        worker's end of stream, i.e. it died)."""
        deadline = time.monotonic() + timeout_s
        out = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                line = out.readline()
                return line.rstrip("\n") if line else _EOF


_WORKER: GradingWorker | None = None
_WORKER_LOCK = threading.Lock()


_WORKER_PID = 0


def worker() -> GradingWorker:
    """The process's shared worker (started on its first request, closed at exit). A forked
    child (a data-loader worker, ``datasets.map(num_proc=...)``) gets its own: the parent's
    pipes are the parent's."""
    global _WORKER, _WORKER_PID
    with _WORKER_LOCK:
        if _WORKER is None or _WORKER_PID != os.getpid():
            _WORKER, _WORKER_PID = GradingWorker(), os.getpid()
            atexit.register(_WORKER.close)
        return _WORKER


def grade(grader: str, *args: Any, timeout_s: float | None = None) -> Graded:
    """``worker().call(...)``: run a named grader in the shared bounded worker."""
    return worker().call(grader, *args, timeout_s=timeout_s)


# ---- inside the worker process ---------------------------------------------------------
def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):  # not on this platform: the timeout still bounds it
        pass


def serve() -> None:
    """The worker loop: one JSON request per line in, one JSON reply per line out."""
    import logging

    logging.disable(logging.WARNING)  # math-verify warns that its own timeouts are off
    _limit_memory()
    funcs = {}
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if "load" in req:  # import the grader (and its warm-up) before any item is timed
                module, func = GRADERS[req["load"]].split(":")
                mod = importlib.import_module(module)
                getattr(mod, "warm", lambda: None)()
                funcs[req["load"]] = getattr(mod, func)
                print("loaded", flush=True)
                continue
            reply = {"ok": True, "value": funcs[req["grader"]](*req["args"])}
        except Exception as err:  # noqa: BLE001 - any grader failure (MemoryError, RecursionError...) fails
            reply = {"ok": False, "error": f"{type(err).__name__}: {str(err)[:160]}"}
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError):
            text = json.dumps({"ok": False, "error": "the grader's result is not JSON"})
        print(text, flush=True)


if __name__ == "__main__":
    serve()
