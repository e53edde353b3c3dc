"""The stand-in over HTTP: auth, look-ups, NAV search, portfolio, SIPs, OTP rules, idempotency, faults."""

from __future__ import annotations

import time
import uuid

from standins.accounts_api.seed import KNOWN_INVESTORS, UNREGISTERED_MOBILE
from tests.e2e_support.stack import AccountsApi, http_json

ASHA, RAHUL, FATIMA, VIKRAM = (k.mobile for k in KNOWN_INVESTORS[:4])


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def investor_id(api: AccountsApi, mobile: str) -> int:
    status, body, _ = api.call("GET", f"/v1/investors/by-mobile/{mobile}")
    assert status == 200, body
    return int(body["investor_id"])


def test_health_and_openapi_are_public(api: AccountsApi) -> None:
    assert http_json("GET", api.url + "/health")[1] == {"status": "ok"}
    status, spec, _ = http_json("GET", api.url + "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    for path in ["/v1/investors/by-mobile/{mobile}", "/v1/otp", "/v1/otp/{otp_id}/verify", "/v1/navs",
                 "/v1/investors/{investor_id}/portfolio", "/v1/investors/{investor_id}/sips",
                 "/v1/investors/{investor_id}/transactions", "/v1/investors/{investor_id}/statements",
                 "/v1/investors/{investor_id}/kyc", "/v1/investors/{investor_id}/redemptions",
                 "/v1/investors/{investor_id}/service-requests", "/admin/faults", "/admin/otp/last"]:
        assert path in spec["paths"], path


def test_every_api_route_needs_the_service_token(api: AccountsApi) -> None:
    assert http_json("GET", api.url + f"/v1/investors/by-mobile/{ASHA}")[0] == 401
    status, body, _ = http_json("GET", api.url + "/admin/faults", headers={"Authorization": "Bearer wrong"})
    assert status == 401 and body["error"] == "unauthorized"


def test_lookup_by_registered_mobile(api: AccountsApi) -> None:
    status, body, _ = api.call("GET", f"/v1/investors/by-mobile/{RAHUL}")
    assert status == 200
    assert body["name"] == "Rahul Mehta" and len(body["folios"]) == 3
    assert api.call("GET", "/v1/investors/by-mobile/9800000001")[1]["name"] == "Asha Verma"  # 10 digits work too
    status, body, _ = api.call("GET", f"/v1/investors/by-mobile/{UNREGISTERED_MOBILE}")
    assert status == 404 and body["error"] == "not_registered" and "pan" not in body


def test_nav_search_is_fuzzy(api: AccountsApi) -> None:
    def top(q: str) -> str:
        status, body, _ = api.call("GET", "/v1/navs?q=" + q.replace(" ", "%20"))
        assert status == 200, body
        return str(body["matches"][0]["scheme_code"]) if body["matches"] else ""

    assert top("flexi cap") == "SFC"
    assert top("flexy cap fund") == "SFC"  # typo
    assert top("midcap") == "SMC"
    assert top("mid cap") == "SMC"
    assert top("elss") == "STS"
    assert top("tax saver direct growth") == "STS"
    assert top("liquid") == "SLQ"
    assert top("SBC-DG") == "SBC"
    assert top("pizza delivery") == ""
    body = api.call("GET", "/v1/navs?q=bluechip%20regular%20idcw")[1]
    first = body["matches"][0]["plans"][0]
    assert (first["plan"], first["option"], first["matches_hints"]) == ("regular", "idcw", True)
    assert first["nav"] > 0 and first["nav_date"] and first["isin"].startswith("INF")


def test_portfolio_adds_up(api: AccountsApi) -> None:
    body = api.call("GET", f"/v1/investors/{investor_id(api, RAHUL)}/portfolio")[1]
    assert len(body["folios"]) == 3
    assert abs(sum(f["value"] for f in body["folios"]) - body["total_value"]) < 1
    one = body["folios"][0]["number"]
    single = api.call("GET", f"/v1/investors/{investor_id(api, RAHUL)}/portfolio?folio={one}")[1]
    assert [f["number"] for f in single["folios"]] == [one]
    assert api.call("GET", f"/v1/investors/{investor_id(api, RAHUL)}/portfolio?folio=999")[0] == 404


def test_sips_cover_every_state_and_failed_debits(api: AccountsApi) -> None:
    sips = api.call("GET", f"/v1/investors/{investor_id(api, RAHUL)}/sips")[1]["sips"]
    assert {s["status"] for s in sips} == {"active", "paused", "ceased"}
    active = next(s for s in sips if s["status"] == "active")
    assert active["next_date"] and active["last_debit"]["status"] == "failed" and active["last_debit"]["reason"]
    assert next(s for s in sips if s["status"] == "ceased")["next_date"] is None


def test_kyc_redemptions_and_transactions(api: AccountsApi) -> None:
    kyc = api.call("GET", f"/v1/investors/{investor_id(api, FATIMA)}/kyc")[1]
    assert kyc["status"] == "on_hold" and kyc["remarks"] and kyc["next_steps"]
    reds = api.call("GET", f"/v1/investors/{investor_id(api, VIKRAM)}/redemptions")[1]["redemptions"]
    assert reds and reds[0]["status"] == "processing" and reds[0]["expected_payout_date"]
    txns = api.call("GET", f"/v1/investors/{investor_id(api, RAHUL)}/transactions?limit=50")[1]["transactions"]
    assert any(t["status"] == "failed" for t in txns) and {"purchase", "sip"} <= {t["kind"] for t in txns}
    assert [t["date"] for t in txns] == sorted((t["date"] for t in txns), reverse=True)


def test_otp_issue_and_verify(api: AccountsApi) -> None:
    status, issued, _ = api.call("POST", "/v1/otp", {"mobile": ASHA}, key())
    assert status == 201 and issued["ttl_seconds"] > 0
    code = api.last_otp(ASHA)
    status, result, _ = api.call("POST", f"/v1/otp/{issued['otp_id']}/verify", {"code": code}, key())
    assert result == {"verified": True, "investor_id": investor_id(api, ASHA)}
    # a used code cannot be used again
    assert api.call("POST", f"/v1/otp/{issued['otp_id']}/verify", {"code": code}, key())[0] == 410
    assert api.call("POST", "/v1/otp", {"mobile": UNREGISTERED_MOBILE}, key())[0] == 404


def test_wrong_codes_lock_the_mobile_across_new_codes(api: AccountsApi) -> None:
    mobile = api.investors(limit=1, offset=50)[0]["mobile"]
    try:
        first = api.call("POST", "/v1/otp", {"mobile": mobile}, key())[1]
        assert api.call("POST", f"/v1/otp/{first['otp_id']}/verify", {"code": "000000"}, key())[1][
            "attempts_left"] == 2
        # asking for a new code does not reset the count
        second = api.call("POST", "/v1/otp", {"mobile": mobile}, key())[1]
        assert api.call("POST", f"/v1/otp/{second['otp_id']}/verify", {"code": "000000"}, key())[1][
            "attempts_left"] == 1
        last = api.call("POST", f"/v1/otp/{second['otp_id']}/verify", {"code": "000000"}, key())[1]
        assert last["attempts_left"] == 0 and last["locked_until"]
        status, body, _ = api.call("POST", "/v1/otp", {"mobile": mobile}, key())
        assert status == 423 and body["retry_after"] > 0
    finally:
        api.clear_locks(mobile)
    assert api.call("POST", "/v1/otp", {"mobile": mobile}, key())[0] == 201


def test_writes_need_and_honour_idempotency_keys(api: AccountsApi) -> None:
    inv = investor_id(api, ASHA)
    path = f"/v1/investors/{inv}/statements"
    assert api.call("POST", path, {"kind": "cas"})[0] == 400
    headers = key()
    first = api.call("POST", path, {"kind": "cas"}, headers)
    again = api.call("POST", path, {"kind": "cas"}, headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert api.call("POST", path, {"kind": "capital_gains"}, headers)[0] == 422  # same key, other request


def test_identical_open_service_request_is_not_placed_twice(api: AccountsApi) -> None:
    inv = investor_id(api, RAHUL)
    sip = next(s for s in api.call("GET", f"/v1/investors/{inv}/sips")[1]["sips"] if s["status"] == "paused")
    path = f"/v1/investors/{inv}/service-requests"
    first = api.call("POST", path, {"kind": "sip_cancel", "sip_ref": sip["ref"]}, key())
    second = api.call("POST", path, {"kind": "sip_cancel", "sip_ref": sip["ref"]}, key())  # a new key
    assert first[0] == 201 and second[0] == 200 and second[1]["duplicate"] is True
    assert second[1]["ref"] == first[1]["ref"]
    listed = api.call("GET", path)[1]["service_requests"]
    assert sum(1 for r in listed if r["target"] == sip["ref"]) == 1
    after = next(s for s in api.call("GET", f"/v1/investors/{inv}/sips")[1]["sips"] if s["ref"] == sip["ref"])
    assert after["cancellation_request"] == first[1]["ref"] and after["next_date"] is None


def test_fault_injection_outage_errors_latency(api: AccountsApi) -> None:
    path = f"/v1/investors/by-mobile/{ASHA}"
    api.faults(outage=True)
    assert api.call("GET", path)[0] == 503
    assert api.call("GET", "/admin/faults")[1]["outage"] is True  # admin stays reachable
    api.faults(outage=False, error_rate=1.0)
    assert api.call("GET", path)[0] == 503
    api.faults(error_rate=0.0, latency_ms=300)
    started = time.monotonic()
    assert api.call("GET", path)[0] == 200
    assert time.monotonic() - started >= 0.3
    assert api.call("PUT", "/admin/faults", {"error_rate": 2})[0] == 422


def test_lost_response_then_retry_with_same_key_places_once(api: AccountsApi) -> None:
    inv = investor_id(api, ASHA)
    headers = key()
    api.faults(error_rate=1.0, lost_response_share=1.0)
    assert api.call("POST", f"/v1/investors/{inv}/statements", {"kind": "account_statement"}, headers)[0] == 502
    api.reset_faults()
    status, body, replay = api.call("POST", f"/v1/investors/{inv}/statements", {"kind": "account_statement"}, headers)
    assert status == 201 and replay.get("Idempotent-Replayed") == "true"  # it had been applied; not placed again
    assert body["ref"].startswith("ST")


def test_admin_investor_picker(api: AccountsApi) -> None:
    multi = api.investors(min_folios=3, limit=5)
    assert multi and all(i["folios"] >= 3 for i in multi)
    assert all(i["kyc_status"] == "rejected" for i in api.investors(kyc_status="rejected", limit=5))
    assert api.investors(open_redemption="true", limit=5)


def test_concurrent_repeats_of_one_write_place_it_once(api: AccountsApi) -> None:
    from concurrent.futures import ThreadPoolExecutor

    inv = investor_id(api, api.investors(limit=1, offset=200)[0]["mobile"])
    headers = key()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: api.call("POST", f"/v1/investors/{inv}/service-requests",
                                                   {"kind": "contact_change", "field": "address"}, headers),
                                range(6)))
    assert {r[1]["ref"] for r in results} == {results[0][1]["ref"]}
    assert len(api.call("GET", f"/v1/investors/{inv}/service-requests")[1]["service_requests"]) == 1
