"""Run Python snippets as separate programs, fast: import once, fork per run.

``python -W error tests/_readme_runner.py < runs.json`` reads a JSON list of
source texts and runs each, in order, in a child forked from this process
(which imported the heavy modules once), as ``__main__`` with fresh globals;
then, as a normal exit would, the child runs the ``atexit`` functions and a
garbage collection (so an unclosed session's warning still shows). It
prints one JSON list of ``{"code", "stdout", "stderr"}``, one per run.

A child's state (an OpenTelemetry instrumentation, a ``Client``'s thread)
dies with it, as with two runs of ``python example.py``; a process per run
would cost the imports (~0.3 s) each time.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import tempfile
import traceback

import aiohttp  # noqa: F401  (imported once, before any fork)

import wriftai_async
import wriftai_async.testing  # noqa: F401


def _child(source: str) -> int:
    status = 0
    try:
        code = compile(source, "<README example>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    try:
        atexit._run_exitfuncs()  # what the interpreter runs at exit
        gc.collect()  # and the finalizers that warn about unclosed things
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
        status = status or 1
    return status


def run(source: str) -> dict[str, object]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: its own stdout and stderr, then exit
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os._exit(_child(source))
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main() -> None:
    sources = json.load(sys.stdin)
    results = [run(source) for source in sources]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
