"""Run one network file in a process of its own: ``python -m theorems.networks.worker FILE OUT``.

The file is executed (it is the user's Python, like a conjecture script); its ``model`` is read
exactly (:func:`numerics.lipschitz.network_layers`) on inputs of the shape given as a third
argument (JSON: a list (C, H, W) or null; null: the file's ``input_shape``, if any) and ``OUT``
receives JSON: ``{"layers": [...]}`` or ``{"error": "..."}``. A file that hangs or ends the process leaves no answer; the
caller (:func:`theorems.networks.mathematics.load_network`) says so.
"""

from __future__ import annotations

import json
import runpy
import sys


def read(path: str, input_shape: list | None = None) -> dict:
    from numerics import lipschitz as L

    try:
        namespace = runpy.run_path(path, run_name="sharpflat_network")
    except SystemExit as exc:
        return {"error": f"{path}: the file called exit({exc.code})"}
    except BaseException as exc:  # noqa: BLE001 - the user's file failed
        return {"error": f"running {path} failed: {type(exc).__name__}: {exc}"}
    if "model" not in namespace:
        return {"error": f"{path} must define `model` (a torch.nn.Sequential of Linear, "
                         "Conv2d, AvgPool2d, Flatten, residual blocks and slope-restricted "
                         "activations)"}
    try:
        shape = input_shape if input_shape is not None else namespace.get("input_shape")
        return {"layers": L.layers_to_json(L.network_layers(namespace["model"], shape))}
    except L.LipschitzError as exc:
        return {"error": f"{path}: `model` is not a network this kind certifies: {exc}"}


def main() -> None:
    path, out = sys.argv[1], sys.argv[2]
    shape = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    answer = read(path, shape)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(answer, fh)


if __name__ == "__main__":
    main()
