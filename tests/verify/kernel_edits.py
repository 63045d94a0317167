"""The tampering helper of the kernel tests: re-check a verdict's JSON after editing it."""

import json

from verify import kernel


def recheck(verdict, **edit) -> tuple[bool, str]:
    """The kernel's answer on the verdict's JSON, after applying ``edit``: each key is a path
    into the JSON with parts joined by ``__`` (list indices as numbers), each value the new
    entry. Returns (accepted, the first failure's message or "")."""
    data = json.loads(verdict.to_json())
    for path, value in edit.items():
        target = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    failures = kernel.recheck([data])
    return (not failures), (failures[0][1] if failures else "")
