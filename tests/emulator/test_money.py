"""The requester's money: the balance, what the crowd's work costs and when, pools running out of money, stats.

``time_scale 0``: the crowd moves only when a test advances the time, so every wait is on the emulator's state.
The pools here pay 0.02 per suite; the fee is max(30 %, $0.001) = 0.006, so a suite costs 0.026.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import act, all_assignments, opened_pool, patch
from toloka_emulator import EmulatorProcess
from toloka_emulator.money import Account
from toloka_emulator.wire import ApiError

ONE = {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}
DEFAULT_BALANCE = 1_000_000.0
REWARD, FEE = 0.02, 0.006
COST = REWARD + FEE
MANUAL: dict[str, Any] = {"auto_accept_solutions": False, "auto_accept_period_day": 2}


def money(emu: EmulatorProcess) -> dict[str, Any]:
    found: dict[str, Any] = emu.stats()["money"]
    return found


def balance(api: Api) -> float:
    value = api.get_json("/requester")["balance"]
    assert isinstance(value, float)  # a JSON number, never a string
    return value


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


def statuses(api: Api, pool_id: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for a in all_assignments(api, pool_id):
        found[a["status"]] = found.get(a["status"], 0) + 1
    return found


# ---------------------------------------------------------------------------------------------- balance and config


@pytest.mark.toloka_emulator(balance=42.5)
def test_requester_shows_the_configured_balance(toloka_emulator: EmulatorProcess) -> None:
    api = Api(toloka_emulator.url)
    assert balance(api) == 42.5
    toloka_emulator.configure(balance=7.25)  # at runtime it sets the available balance
    assert balance(api) == 7.25
    assert toloka_emulator.config()["balance"] == 7.25
    toloka_emulator.reset()  # a reset starts again from the configured balance
    assert balance(api) == 7.25
    with pytest.raises(requests.HTTPError, match="balance"):
        toloka_emulator.configure(balance=-1)
    with pytest.raises(requests.HTTPError, match="fee_rate"):
        toloka_emulator.configure(fee_rate=1.5)


def test_the_default_balance_and_the_cli_flags() -> None:
    args = ["--balance", "12.5", "--fee-rate", "0.1", "--fee-min", "0.5"]
    with EmulatorProcess(extra_args=args) as emulator:
        config = emulator.config()
        assert (config["balance"], config["fee_rate"], config["fee_min"]) == (12.5, 0.1, 0.5)
        assert balance(Api(emulator.url)) == 12.5
        emulator.configure(balance=1.0)
        assert balance(Api(emulator.url)) == 1.0
        emulator.restore_config()
        assert balance(Api(emulator.url)) == 12.5


def test_default_balance(api: Api, emu: EmulatorProcess) -> None:
    assert balance(api) == DEFAULT_BALANCE
    assert emu.config()["fee_rate"] == 0.3 and emu.config()["fee_min"] == 0.001
    assert money(emu) == {
        "balance": DEFAULT_BALANCE,
        "reserved": 0.0,
        "spent": 0.0,
        "fees": 0.0,
        "rewards_by_pool": {},
        "bonuses": {"count": 0, "amount": 0.0},
    }


# ---------------------------------------------------------------------------------------------- paying for work


def test_auto_accept_pools_pay_reward_and_fee_at_submit(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4)  # overlap 3, 2 tasks per suite: 6 suites
    pid = pool["id"]
    emu.advance(3)  # every worker has taken a suite (they wake within 2 s), none can be done yet
    assert statuses(api, pid) == {"ACTIVE": 6}
    assert balance(api) == DEFAULT_BALANCE  # taking a suite costs nothing
    emu.advance(3600)
    assert statuses(api, pid) == {"ACCEPTED": 6}
    assert balance(api) == approx(DEFAULT_BALANCE - 6 * COST)
    found = money(emu)
    assert found["balance"] == approx(DEFAULT_BALANCE - 6 * COST)
    assert (found["reserved"], found["spent"], found["fees"]) == (0.0, approx(6 * COST), approx(6 * FEE))
    assert found["rewards_by_pool"] == {pid: approx(6 * REWARD)}


def test_the_fee_has_a_configurable_rate_and_minimum(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(fee_rate=0.1, fee_min=0.005)  # 10 % of 0.02 is 0.002, below the minimum
    pool, _ = opened_pool(api, n=2, defaults=ONE)  # one suite
    emu.advance(3600)
    assert statuses(api, pool["id"]) == {"ACCEPTED": 1}
    assert money(emu)["fees"] == approx(0.005)
    assert balance(api) == approx(DEFAULT_BALANCE - REWARD - 0.005)
    emu.configure(fee_rate=0.5, fee_min=0.001)  # now the rate wins
    pool, _ = opened_pool(api, n=2, defaults=ONE)
    emu.advance(3600)
    assert money(emu)["fees"] == approx(0.005 + 0.01)


def test_manual_review_reserves_at_submit_and_accept_spends(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4, **MANUAL)
    pid = pool["id"]
    emu.advance(3600)
    found = all_assignments(api, pid)
    assert {a["status"] for a in found} == {"SUBMITTED"} and len(found) == 6
    assert balance(api) == approx(DEFAULT_BALANCE - 6 * COST)  # reserved money is not available
    assert money(emu)["reserved"] == approx(6 * COST)
    assert money(emu)["spent"] == 0.0 and money(emu)["rewards_by_pool"] == {}
    assert patch(api, found[0]["id"], "ACCEPTED").status_code == 200
    after = money(emu)
    assert after["reserved"] == approx(5 * COST) and after["spent"] == approx(COST)
    assert after["fees"] == approx(FEE) and after["rewards_by_pool"] == {pid: approx(REWARD)}
    assert balance(api) == approx(DEFAULT_BALANCE - 6 * COST)  # paid from the reserve, not the balance


def test_manual_review_reject_releases_the_reserve(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4, **MANUAL)
    pid = pool["id"]
    emu.advance(3600)
    found = all_assignments(api, pid)
    assert patch(api, found[0]["id"], "REJECTED", "wrong").status_code == 200
    assert balance(api) == approx(DEFAULT_BALANCE - 5 * COST)
    assert money(emu)["reserved"] == approx(5 * COST) and money(emu)["spent"] == 0.0
    # accepted after an appeal: nothing is reserved for it any more, so it is paid from the balance now
    assert patch(api, found[0]["id"], "ACCEPTED").status_code == 200
    assert balance(api) == approx(DEFAULT_BALANCE - 6 * COST)
    assert money(emu)["reserved"] == approx(5 * COST) and money(emu)["spent"] == approx(COST)
    assert money(emu)["rewards_by_pool"] == {pid: approx(REWARD)}


def test_accepting_unreserved_work_needs_the_money(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4, **MANUAL)
    emu.advance(3600)
    first, second = all_assignments(api, pool["id"])[:2]
    assert patch(api, first["id"], "REJECTED", "wrong").status_code == 200
    emu.configure(balance=0.01)
    resp = patch(api, first["id"], "ACCEPTED")
    assert resp.status_code == 409 and resp.json()["code"] == "NOT_ENOUGH_BALANCE", resp.text
    assert api.get_json(f"/assignments/{first['id']}")["status"] == "REJECTED"
    assert balance(api) == 0.01
    # reserved work is paid from its reserve whatever the balance
    assert patch(api, second["id"], "ACCEPTED").status_code == 200
    assert balance(api) == 0.01 and money(emu)["spent"] == approx(COST)


def test_the_review_period_moves_the_reserve_to_spent(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4, **MANUAL)
    emu.advance(3600)
    assert money(emu)["reserved"] == approx(6 * COST)
    emu.advance(2 * 86_400)
    assert statuses(api, pool["id"]) == {"ACCEPTED": 6}
    found = money(emu)
    assert found["reserved"] == 0.0 and found["spent"] == approx(6 * COST)
    assert found["rewards_by_pool"] == {pool["id"]: approx(6 * REWARD)}
    assert balance(api) == approx(DEFAULT_BALANCE - 6 * COST)


# ---------------------------------------------------------------------------------------------- running out


def test_a_pool_out_of_money_closes_and_waits_for_an_explicit_open(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(balance=2.5 * COST)  # two suites, not three
    pool, _ = opened_pool(api, n=10)  # 15 suites
    pid = pool["id"]
    emu.advance(3)
    closed = api.get_json(f"/pools/{pid}")
    assert (closed["status"], closed["last_close_reason"]) == ("CLOSED", "NOT_ENOUGH_BALANCE")
    assert statuses(api, pid) == {"ACTIVE": 2}  # issued before the money ran short
    emu.advance(3600)
    assert statuses(api, pid) == {"ACCEPTED": 2}  # they were finished and paid
    assert balance(api) == approx(0.5 * COST)
    resp = api.post(f"/pools/{pid}/open")  # still too little for one suite
    assert resp.status_code == 409 and resp.json()["code"] == "NOT_ENOUGH_BALANCE", resp.text
    emu.configure(balance=10.0)  # a top-up does not reopen the pool
    emu.advance(3600)
    assert api.get_json(f"/pools/{pid}")["last_close_reason"] == "NOT_ENOUGH_BALANCE"
    assert statuses(api, pid) == {"ACCEPTED": 2}
    act(api, f"/pools/{pid}/open")
    emu.advance(3600)
    done = api.get_json(f"/pools/{pid}")
    assert (done["status"], done["last_close_reason"]) == ("CLOSED", "COMPLETED")
    assert statuses(api, pid) == {"ACCEPTED": 15}
    assert balance(api) == approx(10.0 - 13 * COST)


def test_money_is_checked_against_the_suites_in_progress(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(balance=5 * COST)  # ten idle workers, enough money for five suites
    pool, _ = opened_pool(api, n=20)
    emu.advance(3)
    assert statuses(api, pool["id"]) == {"ACTIVE": 5}
    emu.advance(3600)
    assert balance(api) == approx(0.0) and balance(api) >= -1e-9
    assert api.get_json(f"/pools/{pool['id']}")["last_close_reason"] == "NOT_ENOUGH_BALANCE"
    emu.configure(balance=5 * COST)  # finished suites hold nothing up any more: five more
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(3)
    assert statuses(api, pool["id"]) == {"ACCEPTED": 5, "ACTIVE": 5}


def test_a_pool_with_only_its_last_suites_in_progress_is_not_closed(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(balance=6 * COST)  # exactly the six suites of the pool
    pool, _ = opened_pool(api, n=4)
    emu.advance(3600)
    done = api.get_json(f"/pools/{pool['id']}")
    assert (done["status"], done["last_close_reason"]) == ("CLOSED", "COMPLETED")
    assert balance(api) == approx(0.0)


# ---------------------------------------------------------------------------------------------- bonuses (no route yet)


def test_pay_bonus_debits_amount_and_fee_or_refuses() -> None:
    account = Account(1.0)
    account.pay_bonus(0.5)
    assert account.balance == pytest.approx(1.0 - 0.65)
    assert account.fee(0.001) == 0.001 and account.fee(1.0) == pytest.approx(0.3) and account.fee(0) == 0.0
    with pytest.raises(ApiError) as caught:
        account.pay_bonus(0.3)  # 0.39 > 0.35
    assert (caught.value.status, caught.value.code) == (409, "NOT_ENOUGH_BALANCE")
    assert account.balance == pytest.approx(0.35)  # nothing debited
    stats = account.stats()
    assert stats["bonuses"] == {"count": 1, "amount": 0.5}
    assert (stats["spent"], stats["fees"], stats["rewards_by_pool"]) == (0.65, 0.15, {})


def test_stats_round_to_six_places() -> None:
    account = Account(0.3)
    for _ in range(3):
        account.pay_bonus(0.01 / 1.3)
    stats = account.stats()
    assert all(len(repr(stats[k]).split(".")[-1]) <= 6 for k in ("balance", "spent", "fees"))
