"""The `netwright` command line: the one place that turns errors into exit codes.

Exit codes (docs/api.md#exit-codes): 0 success, 1 an error while acting (kernel, files),
2 invalid input (nothing is applied), 3 `plan --exit-code` with changes pending.
Heavy modules (pyroute2, jinja2, kopf) are imported inside the command that
needs them: `netwright validate` never pays for the engine or the operator.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from netwright import _console
from netwright.cli._common import EXIT_ERROR, EXIT_INVALID, EXIT_OK, Fail, err
from netwright.cli.parser import build_parser
from netwright.errors import AllocationError, Issue, NetwrightError, ValidationError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence


def _report(issues: Sequence[Issue], what: str) -> None:
    for issue in issues:
        err(str(issue))
    err(f"{len(issues)} problem{'' if len(issues) == 1 else 's'}; {what}")


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; the one place netwright's errors become lines and exit codes."""
    try:
        return func(args)
    except ValidationError as exc:
        _report(exc.issues, "nothing was applied")
        return EXIT_INVALID
    except AllocationError as exc:
        _report(exc.issues, "nothing was written")
        return EXIT_INVALID
    except Fail as exc:
        err(*exc.lines)
        return exc.code
    except NetwrightError as exc:
        err(f"netwright: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): the work is done, say nothing
        _console.silence(sys.stdout)
        return EXIT_OK
    except OSError as exc:  # a file or directory the command needed: named, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err(f"netwright: {where}{exc.strerror or exc}")
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        err("netwright: interrupted")
        return _console.exit_code(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    with contextlib.suppress(ValueError):  # not the main thread: a test calling main
        _console.install_signal_handlers()
    code = _run(func, args)
    # What is still buffered goes now, not at exit, where a closed pipe would turn a
    # finished command's status into Python's 120.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _console.silence(sys.stdout)
    return code


__all__ = ["build_parser", "main"]
