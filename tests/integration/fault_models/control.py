"""The faults the test models apply, read per request from ``$CC_FAULT_CONTROL`` (JSON)."""

import json
import os


def read_control():
    path = os.environ.get("CC_FAULT_CONTROL", "")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as control:
            return json.load(control)
    except (OSError, ValueError):
        return {}
