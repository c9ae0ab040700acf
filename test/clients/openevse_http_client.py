"""A real OpenEVSE client against a loadshare node: python-openevse-http, as Home Assistant uses it.

Run by test/python-client.test.ts with the venv it builds under build/. Every library call is
followed by a check of its effect on the charger (pilot, state, claims), read from the node's
own /status, /claims and /config, not from what the library returned. Prints one line per
check ("check NAME: ok") and ends with "client: N checks passed"; any failure raises.

    python openevse_http_client.py 127.0.0.1:PORT ADMIN_USER ADMIN_PASSWORD
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Callable

import aiohttp
from openevsehttp.__main__ import OpenEVSE

HOST, USER, PASSWORD = sys.argv[1], sys.argv[2], sys.argv[3]
BASE = f"http://{HOST}"
AUTH = aiohttp.BasicAuth(USER, PASSWORD)  # writes need the charger's admin password
CHECKS: list[str] = []


def passed(name: str) -> None:
    CHECKS.append(name)
    print(f"check {name}: ok", flush=True)


async def get(session: aiohttp.ClientSession, path: str) -> Any:
    async with session.get(BASE + path) as r:
        return json.loads(await r.text())


async def post(session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with session.post(BASE + path, json=body, auth=AUTH) as r:
        text = await r.text()
        assert r.status < 300, f"POST {path} {body}: {r.status} {text}"
        return json.loads(text)


async def until(session: aiohttp.ClientSession, what: str, ok: Callable[[dict[str, Any]], bool], timeout_s: float = 20) -> dict[str, Any]:
    """The charger's /status once `ok` holds (a pilot increase may wait for the group)."""
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await get(session, "/status")
        if ok(status):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not reached in {timeout_s} s; last status pilot={status.get('pilot')} state={status.get('state')} amp={status.get('amp')}")


async def main() -> None:
    async with aiohttp.ClientSession() as session:
        charger = OpenEVSE(HOST, user=USER, pwd=PASSWORD, session=session)

        # ---- reading status and config, as the integration's first refresh ----
        await charger.update()
        assert charger.wifi_firmware == "5.0.0", charger.wifi_firmware
        assert charger.version_check("5.0.0"), "the library must enable its 5.x features"
        assert charger.state == "not connected" and charger.state_raw == 1
        assert charger.max_amps == 32 and charger.min_amps == 6
        assert charger.charge_mode == "fast" and charger.service_level == "0"
        assert charger.mqtt_connected is False and charger.manual_override is False
        assert isinstance(charger.status, str) and charger.vehicle is False
        passed("update reads status and config; version enables the library's features")

        # A car arrives (the node simulates it).
        await post(session, "/sim/ev", {"connected": True, "soc": 30, "max_current": 32, "lag_ms": 0})
        s = await until(session, "car charging at 32 A", lambda s: s["pilot"] == 32 and s["amp"] == 32000)
        await charger.update()
        assert charger.state == "charging" and charger.current_capacity == 32 and charger.charging_current == 32000
        passed("status follows a car: state charging, pilot 32 A, amp 32000 mA")

        # ---- following /ws ----
        await charger.ws_start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and charger.ws_state != "connected":
            await asyncio.sleep(0.1)
        assert charger.ws_state == "connected", charger.ws_state
        before = dict(charger._status)
        await post(session, "/sim/ev", {"soc": 31})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and charger._status.get("uptime") == before.get("uptime"):
            await asyncio.sleep(0.1)
        block = charger._status.get("loadsharing")
        truth = (await get(session, "/status"))["loadsharing"]
        assert isinstance(block, dict) and set(block) == set(truth), f"shallow-merged block has {sorted(block)}; /status has {sorted(truth)}"
        assert len(block) >= 19
        passed(f"/ws frames merged shallowly keep the whole loadsharing block ({len(block)} fields)")

        # ---- set_current: 5.x uses the override's charge_current ----
        await charger.set_current(12)
        await until(session, "pilot 12", lambda s: s["pilot"] == 12 and s["manual_override"] == 1)
        assert await charger.get_charge_current() == 12
        passed("set_current(12): pilot 12 A through the manual override")

        # ---- override ----
        await charger.set_override(state="disabled")
        s = await until(session, "paused", lambda s: s["pilot"] == 0 and s["state"] == 254)
        assert await charger.get_override_state() == "disabled"
        override = await get(session, "/override")
        assert override["state"] == "disabled" and override["charge_current"] == 12, override
        passed("set_override(state=disabled): pilot 0, state sleeping, the override keeps its charge_current")
        await charger.clear_override()
        await until(session, "resumed at 32 A", lambda s: s["pilot"] == 32 and s["manual_override"] == 0)
        assert await get(session, "/override") == {}
        passed("clear_override: no override, pilot back to 32 A")
        await charger.toggle_override()
        await until(session, "toggled to paused", lambda s: s["pilot"] == 0 and s["state"] == 254)
        await charger.toggle_override()
        await until(session, "toggled back", lambda s: s["pilot"] == 32 and s["manual_override"] == 0)
        passed("toggle_override twice: paused, then released")

        # ---- claims ----
        await charger.make_claim(charge_current=10, client=20)
        await until(session, "claim at 10 A", lambda s: s["pilot"] == 10)
        claims = await charger.list_claims()
        mine = [c for c in claims if c["client"] == 20]
        assert mine == [{"client": 20, "priority": 500, "charge_current": 10, "auto_release": True}], claims
        assert any(c["client"] == 65550 for c in claims), "the group is listed as a claimant"
        target = await charger.list_claims(target=True)
        assert target["properties"]["charge_current"] == 10 and target["claims"]["charge_current"] == 20, target
        assert await charger.get_charge_current() == 10
        passed("make_claim(charge_current=10, client=20): pilot 10 A; list_claims shows it, with the group's claim")

        # ---- the group's limit is a cap no client lifts ----
        await post(session, "/config", {"loadsharing_group_max_current": 8})
        await until(session, "group cap 8 A", lambda s: s["pilot"] == 8)
        await charger.make_claim(charge_current=32, max_current=32, client=20)
        await charger.set_current(32)
        await asyncio.sleep(1.5)
        s = await until(session, "still 8 A", lambda s: s["pilot"] == 8)
        target = await charger.list_claims(target=True)
        assert target["properties"]["max_current"] == 8 and target["claims"]["max_current"] == 65550, target
        passed("a claim and set_current(32) under an 8 A group limit: the pilot stays 8 A")
        await charger.release_claim(client=20)
        await charger.clear_override()
        await post(session, "/config", {"loadsharing_group_max_current": 32})
        await until(session, "back to 32 A", lambda s: s["pilot"] == 32)
        assert [c["client"] for c in await charger.list_claims()] == [65550]
        passed("release_claim: only the group's claim is left, pilot 32 A")

        # ---- limit ----
        await charger.set_limit("soc", 25)
        got = await charger.get_limit()
        assert got == {"type": "soc", "value": 25, "auto_release": True}, got
        await until(session, "soc limit reached (car at 31 %)", lambda s: s["pilot"] == 0 and s["state"] == 254 and s["limit"] is True)
        target = await charger.list_claims(target=True)
        assert target["claims"]["state"] == 65542, target
        await charger.clear_limit()
        await until(session, "limit cleared", lambda s: s["pilot"] == 32 and s["limit"] is False)
        assert await charger.get_limit() == {}
        passed("set_limit(soc, 25) with the car at 31 %: paused by the limit; get_limit; clear_limit resumes")

        # ---- charge mode ----
        await charger.set_charge_mode("eco")
        await until(session, "eco without sun: paused", lambda s: s["pilot"] == 0 and s["divertmode"] == 2)
        await charger.self_production(solar=3000)
        await until(session, "eco with 3 kW of sun: 12 A", lambda s: s["pilot"] == 12)
        await charger.update()
        assert charger.charge_mode == "eco" and charger.divert_active is True
        await charger.set_charge_mode("fast")
        await until(session, "fast", lambda s: s["pilot"] == 32 and s["divertmode"] == 1)
        passed("set_charge_mode(eco): charges from the solar surplus only (0 A, then 12 A at 3 kW); fast: 32 A")

        # ---- service level ----
        await charger.set_service_level(1)
        await until(session, "L1: 16 A", lambda s: s["pilot"] == 16 and s["service_level"] == 1)
        await charger.update()
        assert charger.service_level == "1" and charger.max_amps == 16
        await charger.set_service_level(2)
        await until(session, "L2: 32 A", lambda s: s["pilot"] == 32 and s["service_level"] == 2)
        passed("set_service_level(1): 16 A at L1; (2): 32 A")

        # ---- RAPI over /r, as the library sends it to older firmware ----
        cmd, ret = await charger.send_command("$GS")
        assert cmd == "$GS" and ret.startswith("$OK 3 "), ret
        cmd, ret = await charger.send_command("$GG")
        assert ret.startswith("$OK 32000 240000^"), ret
        cmd, ret = await charger.send_command("$GC")
        assert ret.startswith("$OK 6 32 32 32^"), ret
        cmd, ret = await charger.send_command("$SC 14 V")
        assert ret.startswith("$OK 14^"), ret
        await until(session, "$SC 14 V: 14 A", lambda s: s["pilot"] == 14)
        cmd, ret = await charger.send_command("$FS")
        await until(session, "$FS: sleeping", lambda s: s["pilot"] == 0 and s["state"] == 254)
        cmd, ret = await charger.send_command("$FE")
        await until(session, "$FE: enabled", lambda s: s["pilot"] == 14)
        cmd, ret = await charger.send_command("$FD")
        await until(session, "$FD: disabled", lambda s: s["pilot"] == 0 and s["state"] == 255)
        await charger.send_command("$FE")
        await charger.send_command("$SC 32 V")
        await until(session, "back to 32 A", lambda s: s["pilot"] == 32)
        passed("send_command $GS $GG $GC $SC $FS $FE $FD: read the charger, set 14 A, sleep, enable, disable")

        # The library's own older-firmware paths (RAPI instead of the newer endpoints).
        await charger.clear_override()
        old = OpenEVSE(HOST, user=USER, pwd=PASSWORD, session=session)
        await old.update()
        old._config["version"] = "4.0.0"  # as a firmware before 4.0.1 would report it
        await old.set_current(9)  # "$SC 9 V"
        await until(session, "old set_current: 9 A", lambda s: s["pilot"] == 9)
        await old.toggle_override()  # state 3 -> "$FS"
        await until(session, "old toggle: sleeping", lambda s: s["state"] == 254)
        await old.update(force_status=True)
        await old.toggle_override()  # state 254 -> "$FE"
        await until(session, "old toggle: charging again at 9 A", lambda s: s["pilot"] == 9 and s["state"] == 3)
        passed("older-firmware paths: set_current and toggle_override over RAPI")

        await charger.ws_disconnect()
        print(f"client: {len(CHECKS)} checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
