"""Schemathesis hooks for test/api-fuzz.test.ts (loaded through SCHEMATHESIS_HOOKS).

One check of our own on top of Schemathesis's: a refused write (any 4xx answer to POST,
PUT, PATCH or DELETE) changes nothing. Before every call the node's observable state is
read (settings, members, inputs, module slots, first-run state); after a refused write it is
read again and must be the same. The node is fuzzed by one worker, so nothing else moves it.
"""
import json
import os

import requests
import schemathesis

BASE = os.environ["LOADSHARE_FUZZ_BASE"]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Keys a write to this node may not carry in the authenticated run: a fuzzed password would
# lock the fuzzer out (the password rules have their own tests).
DROP_KEYS = [k for k in os.environ.get("LOADSHARE_FUZZ_DROP_KEYS", "").split(",") if k]

_before = {}


def observable_state():
    def get(path):
        response = requests.get(BASE + path, timeout=5)
        response.raise_for_status()
        return response.json()

    status = get("/status")
    module = get("/loadsharing/module")
    return {
        "config": get("/config"),
        "members": sorted((p.get("host"), p.get("joined")) for p in get("/loadsharing/peers")),
        "inputs": {k: status.get(k) for k in ("voltage", "shaper_live_pwr")},
        "module": {k: (module.get(k) or {}).get("sha256") if isinstance(module.get(k), dict) else module.get(k)
                   for k in ("running", "active", "pending", "counter")},
        "setup": get("/setup"),
    }


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # Every phase's cases pass here (generation hooks such as map_body miss the coverage phase).
    if DROP_KEYS and case.method.upper() == "POST" and case.path == "/config" and isinstance(case.body, dict):
        for key in DROP_KEYS:
            case.body.pop(key, None)
    if case.method.upper() in WRITES:
        _before[id(case)] = observable_state()


@schemathesis.check
def refused_write_changes_nothing(ctx, response, case):
    """A write answered 4xx leaves the node's observable state as it was."""
    if case.method.upper() not in WRITES or not 400 <= response.status_code < 500:
        return None
    before = _before.get(id(case))
    if before is None:
        return None
    after = observable_state()
    if after != before:
        changed = sorted(k for k in before if before[k] != after[k])
        raise AssertionError(
            f"{case.method} {case.path} answered {response.status_code} but changed {', '.join(changed)}: "
            f"before {json.dumps({k: before[k] for k in changed})[:600]} after {json.dumps({k: after[k] for k in changed})[:600]}"
        )
    return None
