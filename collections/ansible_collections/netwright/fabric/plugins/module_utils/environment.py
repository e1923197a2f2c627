# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The one seam between a module and Ansible: what a netwright action may ask of its caller.

Why it exists: the actions in `provisioning.py` read options, ask whether this is a check
or a diff run, warn, and end the run with a result or a failure. `RunEnvironment` gives
them exactly that over `AnsibleModule`; unit tests give them `RecordingEnvironment`,
which records instead of exiting, so the same action code runs under pytest without
AnsiballZ, stdin arguments or `SystemExit`.

What it must not do: decide anything. It carries results; `provisioning.py` decides.
"""

from __future__ import annotations


class RunEnvironment:
    """An action's view of an `AnsibleModule`."""

    def __init__(self, module):
        self.module = module

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return bool(self.module.check_mode)

    @property
    def diff_mode(self):
        return bool(self.module._diff)  # pylint: disable=protected-access

    def warn(self, text):
        self.module.warn(text)

    def exit(self, result):
        self.module.exit_json(**result)

    def fail(self, msg, result):
        self.module.fail_json(msg=msg, **result)


class Finished(Exception):
    """Raised by `RecordingEnvironment` where a module would exit."""

    def __init__(self, failed, result):
        super().__init__(result.get("msg", ""))
        self.failed = failed
        self.result = result


class RecordingEnvironment:
    """The same interface for tests: exiting raises `Finished` carrying the result."""

    def __init__(self, params, check_mode=False, diff_mode=False):
        self.params = dict(params)
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def exit(self, result):
        raise Finished(False, dict(result))

    def fail(self, msg, result):
        raise Finished(True, dict(result, msg=msg, failed=True))
