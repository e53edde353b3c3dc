"""A deterministic, realistic book for the stand-in: same seed and anchor date, same rows, every time.

Why generated and not a fixture file: thousands of investors with daily NAV history would be megabytes of
JSON, and generating lets tests and benchmarks pick the size (`ACCOUNTS_SEED_INVESTORS`) while the
well-known test investors (KNOWN_INVESTORS, documented in README.md) stay identical at every size.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from standins.accounts_api import models as m

SEED_FORMAT = "3"  # bump when the generator changes, so existing databases are re-seeded

AMC = "Sahyadri"
# (code, name, category, asset class, starting NAV range, yearly drift, daily volatility)
SCHEMES: list[tuple[str, str, str, str, tuple[float, float], float, float]] = [
    ("SFC", "Flexi Cap Fund", "Equity: Flexi Cap", "equity", (40, 120), 0.14, 0.010),
    ("SBC", "Bluechip Fund", "Equity: Large Cap", "equity", (35, 90), 0.12, 0.009),
    ("SMC", "Midcap Opportunities Fund", "Equity: Mid Cap", "equity", (60, 180), 0.18, 0.013),
    ("SSC", "Small Cap Fund", "Equity: Small Cap", "equity", (50, 150), 0.20, 0.015),
    ("STS", "ELSS Tax Saver Fund", "Equity: ELSS", "equity", (70, 140), 0.15, 0.011),
    ("SLM", "Large & Midcap Fund", "Equity: Large & Mid Cap", "equity", (30, 80), 0.15, 0.011),
    ("SMU", "Multi Cap Fund", "Equity: Multi Cap", "equity", (12, 25), 0.16, 0.012),
    ("SFO", "Focused 30 Fund", "Equity: Focused", "equity", (25, 60), 0.13, 0.011),
    ("SVF", "Value Fund", "Equity: Value", "equity", (45, 110), 0.14, 0.010),
    ("SDY", "Dividend Yield Fund", "Equity: Dividend Yield", "equity", (20, 45), 0.12, 0.009),
    ("SIF", "Infrastructure Fund", "Equity: Sectoral", "equity", (30, 70), 0.17, 0.014),
    ("SPH", "Pharma and Healthcare Fund", "Equity: Sectoral", "equity", (18, 40), 0.13, 0.012),
    ("STF", "Technology Fund", "Equity: Sectoral", "equity", (100, 190), 0.15, 0.014),
    ("SNI", "Nifty 50 Index Fund", "Index Fund", "equity", (150, 220), 0.12, 0.009),
    ("SNN", "Nifty Next 50 Index Fund", "Index Fund", "equity", (40, 70), 0.14, 0.011),
    ("SBA", "Balanced Advantage Fund", "Hybrid: Balanced Advantage", "hybrid", (25, 50), 0.10, 0.005),
    ("SAH", "Aggressive Hybrid Fund", "Hybrid: Aggressive", "hybrid", (200, 320), 0.12, 0.007),
    ("SMA", "Multi Asset Allocation Fund", "Hybrid: Multi Asset", "hybrid", (15, 30), 0.11, 0.006),
    ("SES", "Equity Savings Fund", "Hybrid: Equity Savings", "hybrid", (18, 28), 0.08, 0.003),
    ("SAR", "Arbitrage Fund", "Hybrid: Arbitrage", "hybrid", (25, 32), 0.07, 0.0005),
    ("SLQ", "Liquid Fund", "Debt: Liquid", "debt", (2200, 4200), 0.068, 0.0001),
    ("SON", "Overnight Fund", "Debt: Overnight", "debt", (1200, 1300), 0.065, 0.00005),
    ("SMM", "Money Market Fund", "Debt: Money Market", "debt", (1000, 1400), 0.07, 0.0002),
    ("SSD", "Short Duration Fund", "Debt: Short Duration", "debt", (28, 45), 0.072, 0.0008),
    ("SCB", "Corporate Bond Fund", "Debt: Corporate Bond", "debt", (20, 30), 0.073, 0.0009),
    ("SBP", "Banking and PSU Debt Fund", "Debt: Banking and PSU", "debt", (20, 24), 0.071, 0.0008),
    ("SGF", "Gilt Fund", "Debt: Gilt", "debt", (55, 90), 0.075, 0.0020),
    ("SDB", "Dynamic Bond Fund", "Debt: Dynamic Bond", "debt", (30, 40), 0.072, 0.0015),
    ("SGO", "Gold ETF Fund of Fund", "Other: FoF", "other", (18, 30), 0.10, 0.008),
    ("SCH", "Conservative Hybrid Fund", "Hybrid: Conservative", "hybrid", (45, 60), 0.08, 0.002),
]
PLAN_VARIANTS = [("direct", "growth", "DG"), ("direct", "idcw", "DI"), ("regular", "growth", "RG"),
                 ("regular", "idcw", "RI")]

FIRST = ("Aarav Aditi Akash Ananya Arjun Bhavna Chetan Deepa Divya Gaurav Harsh Isha Jaya Karthik Kavya Lakshmi Manish "
         "Meera Mohit Nandini Nikhil Pooja Pradeep Priya Rajesh Ritu Rohan Sakshi Sandeep Sanjay Shreya Siddharth "
         "Sneha Suresh Swati Tanvi Uday Varun Vidya Yash Zoya Imran Farah Joseph Mary Gurpreet Harpreet Anil "
         "Sunita").split()
LAST = ("Sharma Verma Gupta Iyer Nair Reddy Patel Shah Mehta Joshi Kulkarni Deshpande Rao Menon Pillai Das Banerjee "
        "Chatterjee Mukherjee Singh Kaur Khan Shaikh Qureshi DSouza Fernandes Agarwal Jain Bansal Malhotra Kapoor "
        "Chauhan Yadav Mishra Tiwari Pandey Naidu Hegde Bhat Saxena").split()
CITIES = ("Mumbai Pune Delhi Bengaluru Chennai Hyderabad Kolkata Ahmedabad Jaipur Lucknow Indore Nagpur Kochi "
          "Coimbatore Bhopal Surat Patna Chandigarh Nashik Vadodara").split()
BANKS = ["HDFC Bank", "State Bank of India", "ICICI Bank", "Axis Bank", "Kotak Mahindra Bank", "Bank of Baroda",
         "Canara Bank", "Union Bank of India", "IDFC FIRST Bank", "Punjab National Bank"]
FAILED_DEBIT_REASONS = ["Insufficient funds", "Mandate not registered with bank", "Account frozen", "Mandate expired"]
KYC_ON_HOLD_REASONS = ["Address proof expired; re-submit address proof", "PAN not linked with Aadhaar",
                       "Mobile/email not validated"]
KYC_REJECTED_REASONS = ["Name mismatch between PAN and KYC records", "Illegible documents submitted"]


@dataclass
class KnownInvestor:
    """A documented investor that tests and the simulator rely on (README.md, "Test investors")."""

    mobile: str
    name: str
    pan: str
    email: str
    kyc_status: str = "verified"
    kyc_remarks: str | None = None
    # per folio: list of (plan code, invested rupees, SIP spec or None); SIP spec = (amount, day, status, last debit)
    folios: list[list[tuple[str, int, tuple[int, int, str, str] | None]]] = field(default_factory=list)
    pending_redemption: tuple[str, int] | None = None  # (plan code, rupees)


KNOWN_INVESTORS: list[KnownInvestor] = [
    KnownInvestor("919800000001", "Asha Verma", "AKSPV4821K", "asha.verma@example.com",
                  folios=[[("SFC-DG", 180000, (5000, 5, "active", "success")), ("STS-DG", 150000, None)]]),
    KnownInvestor("919800000002", "Rahul Mehta", "BQRPM7310L", "rahul.mehta@example.com",
                  folios=[[("SBC-DG", 240000, (10000, 10, "active", "failed")), ("SLQ-DG", 300000, None)],
                          [("SMC-RG", 120000, (3000, 15, "paused", "success"))],
                          [("SNI-DG", 90000, (2000, 20, "ceased", "success")), ("SGF-RG", 50000, None)]]),
    KnownInvestor("919800000003", "Fatima Shaikh", "CZTPS5567M", "fatima.shaikh@example.com",
                  kyc_status="on_hold", kyc_remarks=KYC_ON_HOLD_REASONS[0],
                  folios=[[("SBA-DG", 75000, (2500, 7, "active", "success"))]]),
    KnownInvestor("919800000004", "Vikram Iyer", "DLMPI9043N", "vikram.iyer@example.com",
                  folios=[[("SLQ-RG", 400000, None), ("SFC-RG", 110000, (4000, 1, "active", "success"))]],
                  pending_redemption=("SLQ-RG", 25000)),
    KnownInvestor("919800000005", "Neha Gupta", "EWXPG2684P", "neha.gupta@example.com",
                  kyc_status="rejected", kyc_remarks=KYC_REJECTED_REASONS[0],
                  folios=[[("SSC-DG", 60000, (1500, 25, "active", "success"))]]),
    KnownInvestor("919800000006", "Karan Singh", "FHJPS3398Q", "karan.singh@example.com",
                  folios=[[("SFC-DG", 50000, None)], [("SMC-DG", 65000, (2000, 3, "active", "success"))],
                          [("STS-RG", 150000, None)], [("SAH-DG", 80000, (5000, 12, "active", "success"))],
                          [("SCB-DG", 200000, None)]]),
]
UNREGISTERED_MOBILE = "919800000099"
RESERVED_PREFIX = "9198000000"  # generated investors never use this range, so the documented numbers stay unique


def resolve_anchor(anchor: str) -> dt.date:
    """The book's 'today': the configured ISO date, or today's date in India."""
    if anchor:
        return dt.date.fromisoformat(anchor)
    return (dt.datetime.utcnow() + dt.timedelta(hours=5, minutes=30)).date()


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def add_business_days(day: dt.date, n: int) -> dt.date:
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def isin_for(rng: random.Random, used: set[str]) -> str:
    """`INF` + issuer code + security code + check digit, shaped like Indian MF ISINs (not Luhn-valid on purpose)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        isin = "INF" + "S07" + "K01" + "".join(rng.choice(alphabet) for _ in range(2)) + str(rng.randrange(10))
        if isin not in used:
            used.add(isin)
            return isin


def signature(seed: int, investors: int, nav_days: int, anchor: dt.date) -> str:
    return f"{SEED_FORMAT}:{seed}:{investors}:{nav_days}:{anchor.isoformat()}"


def is_seeded(engine: Engine, sig: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(select(m.Meta.value).where(m.Meta.key == "seed")).first()
    return row is not None and row[0] == sig


class _Book:
    """Builds every row in memory, then `write()` bulk-inserts them in one transaction."""

    def __init__(self, seed: int, anchor: dt.date, nav_days: int) -> None:
        self.rng = random.Random(seed)
        self.anchor = anchor
        self.rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in m.Base.metadata.sorted_tables}
        self.plan_ids: dict[str, int] = {}
        self.plan_nav: dict[int, list[tuple[dt.date, float]]] = {}
        self.plan_asset: dict[int, str] = {}
        self.ids: dict[str, int] = {}
        self.pans: set[str] = set()
        self.mobiles: set[str] = set()
        self.folio_numbers: set[str] = set()
        self.nav_days = nav_days

    def add(self, model: Any, **values: Any) -> int:
        table = model.__table__
        if "id" in table.c and "id" not in values:
            self.ids[table.name] = self.ids.get(table.name, 0) + 1
            values["id"] = self.ids[table.name]
        self.rows[table].append(values)
        return int(values.get("id", 0))

    def next_ref(self, prefix: str) -> str:
        self.ids["ref:" + prefix] = self.ids.get("ref:" + prefix, 0) + 1
        return f"{prefix}{self.ids['ref:' + prefix]:08d}"

    # --- schemes and NAVs -------------------------------------------------------------------------------------
    def schemes(self) -> None:
        used: set[str] = set()
        last_day = self.anchor - dt.timedelta(days=1)  # NAVs are published after market close: latest is yesterday
        days = business_days(last_day - dt.timedelta(days=self.nav_days), last_day)
        for code, name, category, asset, (lo, hi), drift, vol in SCHEMES:
            scheme_id = self.add(m.Scheme, code=code, name=f"{AMC} {name}", category=category, asset_class=asset)
            base = self.rng.uniform(lo, hi)
            walk = [base]
            for _ in days[1:]:
                walk.append(walk[-1] * (1 + drift / 250 + self.rng.gauss(0, vol)))
            for plan, option, suffix in PLAN_VARIANTS:
                factor = (1.0 if plan == "direct" else 0.93) * (1.0 if option == "growth" else 0.62)
                plan_code = f"{code}-{suffix}"
                plan_id = self.add(
                    m.Plan, scheme_id=scheme_id, code=plan_code, isin=isin_for(self.rng, used), plan=plan,
                    option=option,
                    name=f"{AMC} {name} - {plan.title()} Plan - {'Growth' if option == 'growth' else 'IDCW'}",
                )
                self.plan_ids[plan_code] = plan_id
                self.plan_asset[plan_id] = asset
                series = []
                for day, nav in zip(days, walk, strict=True):
                    # regular plans lag direct by their higher expense ratio, compounding over the history
                    age = (last_day - day).days / 365
                    value = round(nav * factor * (1 - (0.008 if plan == "regular" else 0) * (1 - age)), 4)
                    series.append((day, value))
                    self.add(m.NavPoint, plan_id=plan_id, nav_date=day, nav=Decimal(str(value)))
                self.plan_nav[plan_id] = series

    def nav_on(self, plan_id: int, day: dt.date) -> float:
        series = self.plan_nav[plan_id]
        for d, nav in reversed(series):
            if d <= day:
                return nav
        return series[0][1]

    # --- investors --------------------------------------------------------------------------------------------
    def unique_pan(self, surname: str) -> str:
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        while True:
            pan = ("".join(self.rng.choice(letters) for _ in range(3)) + "P" + surname[0].upper()
                   + f"{self.rng.randrange(10000):04d}" + self.rng.choice(letters))
            if pan not in self.pans:
                self.pans.add(pan)
                return pan

    def unique_mobile(self) -> str:
        while True:
            mobile = "91" + str(self.rng.choice([6, 7, 8, 9])) + f"{self.rng.randrange(10**9):09d}"
            if mobile not in self.mobiles and not mobile.startswith(RESERVED_PREFIX):
                self.mobiles.add(mobile)
                return mobile

    def unique_folio(self) -> str:
        while True:
            number = f"{self.rng.randrange(10**7, 10**8)}/{self.rng.randrange(10, 100)}"
            if number not in self.folio_numbers:
                self.folio_numbers.add(number)
                return number

    def investor(self, *, name: str, pan: str, mobile: str, email: str, kyc_status: str, kyc_remarks: str | None,
                 folios: list[list[tuple[str, int, tuple[int, int, str, str] | None]]],
                 pending_redemption: tuple[str, int] | None) -> None:
        rng = self.rng
        investor_id = self.add(
            m.Investor, pan=pan, name=name, mobile=mobile, email=email, city=rng.choice(CITIES),
            kyc_status=kyc_status, kyc_remarks=kyc_remarks,
            kyc_updated_on=self.anchor - dt.timedelta(days=rng.randrange(20, 900)),
        )
        for holdings in folios:
            opened = self.anchor - dt.timedelta(days=rng.randrange(200, 2500))
            folio_id = self.add(
                m.Folio, number=self.unique_folio(), investor_id=investor_id, mobile=mobile, email=email,
                bank_name=rng.choice(BANKS), bank_account=str(rng.randrange(10**11, 10**14)), opened_on=opened,
            )
            for plan_code, invested, sip in holdings:
                self.holding(folio_id, self.plan_ids[plan_code], invested, sip)
            if pending_redemption and pending_redemption[0] in {h[0] for h in holdings}:
                self.redemption(folio_id, self.plan_ids[pending_redemption[0]], pending_redemption[1], pending=True)

    def holding(self, folio_id: int, plan_id: int, invested: int, sip: tuple[int, int, str, str] | None) -> None:
        rng = self.rng
        first_day = self.plan_nav[plan_id][0][0]
        bought_on = first_day + dt.timedelta(days=rng.randrange(0, max(self.nav_days // 2, 1)))
        nav = self.nav_on(plan_id, bought_on)
        lump = invested if sip is None else max(invested - sip[0] * 6, sip[0])
        units = lump / nav
        self.txn(folio_id, plan_id, "purchase", bought_on, lump, units, nav)
        total_invested = float(lump)
        if sip is not None:
            amount, day, status, last = sip
            months = []
            month_day = self.anchor.replace(day=min(day, 28))
            for back in range(6, 0, -1):
                y, mth = month_day.year, month_day.month - back
                while mth <= 0:
                    y, mth = y - 1, mth + 12
                months.append(dt.date(y, mth, min(day, 28)))
            if month_day < self.anchor:
                months.append(month_day)
            for i, when in enumerate(months):
                failed = (i == len(months) - 1 and last == "failed") or rng.random() < 0.03
                if status == "ceased" and i >= 3:
                    break
                if failed:
                    self.txn(folio_id, plan_id, "sip", when, amount, 0.0, None, status="failed",
                             remarks=rng.choice(FAILED_DEBIT_REASONS))
                else:
                    n = self.nav_on(plan_id, when)
                    units += amount / n
                    total_invested += amount
                    self.txn(folio_id, plan_id, "sip", when, amount, amount / n, n)
            last_when = months[-1] if months else None
            last_failed = last == "failed"
            self.add(
                m.Sip, ref=self.next_ref("SIP"), folio_id=folio_id, plan_id=plan_id, amount=Decimal(amount),
                day_of_month=min(day, 28), start_date=months[0] if months else self.anchor, end_date=None,
                status=status,
                paused_until=(self.anchor + dt.timedelta(days=60)) if status == "paused" else None,
                last_debit_date=last_when,
                last_debit_status="failed" if last_failed else "success",
                last_debit_reason=FAILED_DEBIT_REASONS[0] if last_failed else None,
            )
        if rng.random() < 0.15:  # a partial redemption at some point
            when = self.anchor - dt.timedelta(days=rng.randrange(30, 150))
            n = self.nav_on(plan_id, when)
            out_units = units * rng.uniform(0.05, 0.2)
            self.txn(folio_id, plan_id, "redemption", when, round(out_units * n, 2), out_units, n)
            units -= out_units
            total_invested *= 1 - out_units / (units + out_units)
        self.add(m.Holding, folio_id=folio_id, plan_id=plan_id, units=Decimal(f"{units:.3f}"),
                 invested=Decimal(f"{total_invested:.2f}"))

    def txn(self, folio_id: int, plan_id: int, kind: str, when: dt.date, amount: float, units: float,
            nav: float | None, status: str = "processed", remarks: str | None = None) -> None:
        self.add(m.Transaction, ref=self.next_ref("TXN"), folio_id=folio_id, plan_id=plan_id, kind=kind,
                 trade_date=when, amount=Decimal(f"{amount:.2f}"), units=Decimal(f"{units:.3f}"),
                 nav=Decimal(f"{nav:.4f}") if nav else None, status=status, remarks=remarks)

    def redemption(self, folio_id: int, plan_id: int, amount: int, pending: bool) -> None:
        requested = add_business_days(self.anchor - dt.timedelta(days=3), 0) if pending else (
            self.anchor - dt.timedelta(days=self.rng.randrange(20, 200)))
        nav = self.nav_on(plan_id, requested)
        payout_days = 1 if self.plan_asset[plan_id] == "debt" else 3  # liquid T+1, equity T+3 (SEBI/AMFI practice)
        payout = add_business_days(requested, payout_days)
        if pending and payout <= self.anchor:
            payout = add_business_days(self.anchor, 1)
        self.add(m.Redemption, ref=self.next_ref("RED"), folio_id=folio_id, plan_id=plan_id,
                 amount=Decimal(amount), units=Decimal(f"{amount / nav:.3f}"), requested_on=requested,
                 expected_payout_date=payout, status="processing" if pending else "paid",
                 paid_on=None if pending else payout)

    def random_investor(self) -> None:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        roll = rng.random()
        kyc, remarks = "verified", None
        if roll < 0.05:
            kyc, remarks = "on_hold", rng.choice(KYC_ON_HOLD_REASONS)
        elif roll < 0.08:
            kyc, remarks = "rejected", rng.choice(KYC_REJECTED_REASONS)
        elif roll < 0.10:
            kyc, remarks = "registered", "KYC under process with the KRA"
        n_folios = 1 if rng.random() < 0.7 else (2 if rng.random() < 0.75 else 3)
        folios = []
        for _ in range(n_folios):
            holdings = []
            for code in rng.sample([s[0] for s in SCHEMES], rng.randint(1, 4)):
                suffix = rng.choices(["DG", "DI", "RG", "RI"], weights=[50, 8, 35, 7])[0]
                invested = rng.choice([5, 10, 20, 25, 50, 75, 100, 150, 200, 300, 500]) * 1000
                sip = None
                if rng.random() < 0.5:
                    status = rng.choices(["active", "paused", "ceased"], weights=[75, 8, 17])[0]
                    last = "failed" if rng.random() < 0.07 else "success"
                    sip = (rng.choice([500, 1000, 2000, 2500, 3000, 5000, 10000]), rng.randint(1, 28), status, last)
                holdings.append((f"{code}-{suffix}", invested, sip))
            folios.append(holdings)
        pending = None
        if rng.random() < 0.03:
            pending = (folios[0][0][0], rng.choice([5000, 10000, 20000, 50000]))
        self.investor(name=f"{first} {last}", pan=self.unique_pan(last), mobile=self.unique_mobile(),
                      email=f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com", kyc_status=kyc,
                      kyc_remarks=remarks, folios=folios, pending_redemption=pending)

    def write(self, engine: Engine, sig: str) -> None:
        with engine.begin() as conn:
            for table in reversed(m.Base.metadata.sorted_tables):
                conn.execute(delete(table))
            for table in m.Base.metadata.sorted_tables:
                rows = self.rows[table]
                for start in range(0, len(rows), 5000):
                    conn.execute(insert(table), rows[start:start + 5000])
            conn.execute(insert(m.Meta.__table__), [{"key": "seed", "value": sig},
                                                    {"key": "anchor", "value": self.anchor.isoformat()}])


def seed_database(engine: Engine, *, seed: int, investors: int, nav_days: int, anchor: dt.date,
                  force: bool = False) -> bool:
    """Create the tables and (re)generate the book unless this exact book is already there; True if it wrote."""
    m.Base.metadata.create_all(engine)
    sig = signature(seed, investors, nav_days, anchor)
    if not force and is_seeded(engine, sig):
        return False
    book = _Book(seed, anchor, nav_days)
    book.schemes()
    for known in KNOWN_INVESTORS:
        book.mobiles.add(known.mobile)
        book.pans.add(known.pan)
    for known in KNOWN_INVESTORS:
        book.investor(name=known.name, pan=known.pan, mobile=known.mobile, email=known.email,
                      kyc_status=known.kyc_status, kyc_remarks=known.kyc_remarks, folios=known.folios,
                      pending_redemption=known.pending_redemption)
    for _ in range(max(investors - len(KNOWN_INVESTORS), 0)):
        book.random_investor()
    book.write(engine, sig)
    return True
