#!/usr/bin/env python3
"""Lifecycle tables for a generated portfolio (compliance.md, "Facts from the lifecycle").

Reads borrowers.csv and loans.csv of a folder written by `arrears generate` and writes, into
OUT, the lifecycle tables at a realistic density, deterministically (the same input and seed
give the same files):

  notices            20% of borrowers, 1-2 each (kinds by jurisdiction; sent in the 120 days
                     before AS_OF)
  preferences        10% of borrowers, 1-3 channels each (a third opted out, the rest with
                     contact hours), some with an older row the newer one replaces
  payment_plans       5% of loans, 3-6 plan_installments each (60% active, 15% completed,
                     15% broken, 5% proposed, 5% cancelled)
  placements          3% of loans (agencies AG-1..AG-5; 30% recalled)
  sales               1% of loans
  credit_disputes     1% of borrowers (half resolved)
  contact_persons     5% of borrowers (designated; 1 in 10 from an address book, 1 in 20 refused)
  legal_cases       0.5% of loans

Usage: bench/lifecycle_tables.py PORTFOLIO OUT [--as-of 2026-11-28] [--seed 7] [--no-gate-notices]

--no-gate-notices writes the notices that open an escalation's gate (credit_reporting,
agency_placement, forbearance_offer) as `legal_action` notices instead: the same rows and the
same random draws otherwise (it was needed to time the plan at 21d45c7, whose independent plan
checker did not read those notices and refused the plan: docs/performance.md, "One system").

OUT may be PORTFOLIO itself; bench/lifecycle_plan_bench.sh writes them into a second folder
that links the portfolio's own tables, so the same portfolio is timed with and without them.
"""

import argparse
import csv
import datetime as dt
import os
import random

AGENCIES = ["AG-1", "AG-2", "AG-3", "AG-4", "AG-5"]
BUYERS = ["Debt Buyer Co", "Recovery Partners Ltd", "Eastern Asset Management"]
NOTICE_KINDS = {
    "CN": ["agency_placement", "credit_reporting", "legal_action"],
    "US": ["validation", "validation", "credit_reporting", "legal_action"],
    "GB": ["forbearance_offer", "credit_reporting", "legal_action"],
}
GATE_KINDS = {"credit_reporting", "agency_placement", "forbearance_offer"}
PLAN_STATUS = ["active"] * 12 + ["completed"] * 3 + ["broken"] * 3 + ["proposed", "cancelled"]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("portfolio")
    ap.add_argument("out")
    ap.add_argument("--as-of", default="2026-11-28")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-gate-notices", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    as_of = dt.datetime.fromisoformat(a.as_of).replace(tzinfo=dt.timezone.utc)
    os.makedirs(a.out, exist_ok=True)

    def before(days_max, days_min=1):
        """An instant 1..days_max days before the business date, at a working hour UTC."""
        d = rng.randint(days_min, days_max)
        return as_of - dt.timedelta(days=d) + dt.timedelta(hours=rng.randint(1, 12), minutes=rng.randint(0, 59))

    def writer(name, header):
        f = open(os.path.join(a.out, name + ".csv"), "w", newline="")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        return f, w

    loans_of = {}
    loans = []
    with open(os.path.join(a.portfolio, "loans.csv"), newline="") as f:
        for r in csv.DictReader(f):
            loans.append((r["loan_id"], r["borrower_id"]))
            loans_of.setdefault(r["borrower_id"], []).append(r["loan_id"])

    counts = {}
    fn, notices = writer("notices", ["notice_id", "borrower_id", "loan_id", "kind", "sent_at", "channel"])
    fp, prefs = writer("preferences", ["borrower_id", "channel", "opted_out", "contact_from", "contact_to", "updated_at"])
    fd, disputes = writer("credit_disputes", ["dispute_id", "borrower_id", "loan_id", "opened_at", "resolved_at"])
    fc, persons = writer("contact_persons", ["person_id", "borrower_id", "name", "phone", "email", "relation", "source", "refused"])
    n_notice = n_dispute = n_person = n_pref = 0
    with open(os.path.join(a.portfolio, "borrowers.csv"), newline="") as f:
        for r in csv.DictReader(f):
            b = r["borrower_id"]
            country = r["jurisdiction"][:2]
            mine = loans_of.get(b, [])
            if rng.random() < 0.20:
                for _ in range(rng.randint(1, 2)):
                    n_notice += 1
                    loan = rng.choice(mine) if mine and rng.random() < 0.5 else ""
                    kind = rng.choice(NOTICE_KINDS.get(country, NOTICE_KINDS["GB"]))
                    if a.no_gate_notices and kind in GATE_KINDS:
                        kind = "legal_action"
                    channel = rng.choice(["letter", "letter", "email", "sms", "portal"])
                    notices.writerow([f"N{n_notice:09d}", b, loan, kind, ts(before(120)), channel])
            if rng.random() < 0.10:
                for channel in rng.sample(["call", "sms", "email", "letter"], rng.randint(1, 3)):
                    if rng.random() < 0.25:
                        n_pref += 1
                        prefs.writerow([b, channel, "true", "", "", ts(before(400, 200))])
                    n_pref += 1
                    if rng.random() < 0.33:
                        prefs.writerow([b, channel, "true", "", "", ts(before(180))])
                    else:
                        start = rng.choice(["08:00", "09:00", "10:00"])
                        end = rng.choice(["18:00", "19:00", "20:00", "21:00"])
                        prefs.writerow([b, channel, "false", start, end, ts(before(180))])
            if mine and rng.random() < 0.01:
                n_dispute += 1
                opened = before(60)
                resolved = ts(opened + dt.timedelta(days=rng.randint(1, 20))) if rng.random() < 0.5 else ""
                if resolved and resolved > ts(as_of):
                    resolved = ""
                disputes.writerow([f"D{n_dispute:09d}", b, rng.choice(mine), ts(opened), resolved])
            if rng.random() < 0.05:
                n_person += 1
                source = "address_book" if rng.random() < 0.10 else "designated"
                refused = "true" if rng.random() < 0.05 else "false"
                phone = r["phone"][:-4] + f"{rng.randint(0, 9999):04d}" if r["phone"] else ""
                persons.writerow([f"CP{n_person:09d}", b, "Contact Person", phone, "", "relative", source, refused])
    for f in (fn, fp, fd, fc):
        f.close()
    counts.update(notices=n_notice, preferences=n_pref, credit_disputes=n_dispute, contact_persons=n_person)

    fpl, plans = writer("payment_plans", ["plan_id", "loan_id", "status", "created_at"])
    fpi, inst = writer("plan_installments", ["plan_id", "seq", "due_date", "amount_minor"])
    fpc, placements = writer("placements", ["placement_id", "loan_id", "agency_id", "placed_at", "recalled_at"])
    fs, sales = writer("sales", ["sale_id", "loan_id", "buyer", "sold_at"])
    fl, cases = writer("legal_cases", ["case_id", "loan_id", "court", "case_number", "status", "updated_on"])
    n_plan = n_inst = n_place = n_sale = n_case = 0
    for loan, _b in loans:
        x = rng.random()
        if x < 0.05:
            n_plan += 1
            pid = f"PL{n_plan:09d}"
            created = before(120)
            plans.writerow([pid, loan, rng.choice(PLAN_STATUS), ts(created)])
            amount = rng.randint(10, 500) * 100
            for seq in range(1, rng.randint(3, 6) + 1):
                n_inst += 1
                due = (created + dt.timedelta(days=30 * seq)).date()
                inst.writerow([pid, seq, due.isoformat(), amount])
        if rng.random() < 0.03:
            n_place += 1
            placed = before(180)
            recalled = ""
            if rng.random() < 0.30:
                r_at = placed + dt.timedelta(days=rng.randint(10, 90))
                recalled = ts(r_at) if r_at < as_of else ""
            placements.writerow([f"PC{n_place:09d}", loan, rng.choice(AGENCIES), ts(placed), recalled])
        if rng.random() < 0.01:
            n_sale += 1
            sales.writerow([f"S{n_sale:09d}", loan, rng.choice(BUYERS), ts(before(365))])
        if rng.random() < 0.005:
            n_case += 1
            status = rng.choice(["filed", "filed", "judgment", "enforcement", "closed"])
            updated = before(200).date().isoformat()
            cases.writerow([f"K{n_case:09d}", loan, "District Court", f"C-{n_case:07d}", status, updated])
    for f in (fpl, fpi, fpc, fs, fl):
        f.close()
    counts.update(payment_plans=n_plan, plan_installments=n_inst, placements=n_place, sales=n_sale, legal_cases=n_case)
    for k, v in counts.items():
        print(f"{k:18} {v:>9}")


if __name__ == "__main__":
    main()
