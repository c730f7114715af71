#!/usr/bin/env bash
# The baseline of the store's PostgreSQL import target: plain `psql \copy` of a portfolio's
# CSV files into equivalent tables (same columns, types, primary keys and secondary indexes as
# migrations/postgres/0001_portfolio.sql; no foreign keys or CHECKs, which \copy cannot
# honour with the file format's defaults). Prints the wall time of the loads.
#   bench/pg_copy_baseline.sh PORTFOLIO_DIR [ADMIN_URL]
set -euo pipefail
dir=$1
admin=${2:-postgres://postgres@127.0.0.1:5432/postgres}
db=arrears_copy_baseline
url="${admin%/*}/$db"
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql "$url" -q <<'SQL'
CREATE TABLE borrowers (borrower_id TEXT PRIMARY KEY, name TEXT, phone TEXT, email TEXT,
  timezone TEXT, jurisdiction TEXT, language TEXT, deceased BOOLEAN, bankrupt BOOLEAN,
  cease_contact BOOLEAN, phone_timezone TEXT, dispute_open BOOLEAN, hardship BOOLEAN,
  breathing_space_until DATE, attorney_phone TEXT, attorney_email TEXT);
CREATE TABLE loans (loan_id TEXT PRIMARY KEY, borrower_id TEXT, product TEXT, currency TEXT,
  principal_minor BIGINT, annual_rate_bps INTEGER, penalty_rate_bps INTEGER, disbursed_on DATE,
  status TEXT);
CREATE INDEX loans_by_borrower ON loans (borrower_id);
CREATE TABLE installments (loan_id TEXT, seq INTEGER, due_date DATE, principal_minor BIGINT,
  interest_minor BIGINT, fee_minor BIGINT, PRIMARY KEY (loan_id, seq));
CREATE TABLE payments (payment_id TEXT PRIMARY KEY, loan_id TEXT, received_at TIMESTAMPTZ,
  amount_minor BIGINT, kind TEXT, reverses TEXT);
CREATE INDEX payments_by_loan ON payments (loan_id);
CREATE UNIQUE INDEX payments_reversed_once ON payments (reverses) WHERE reverses IS NOT NULL;
CREATE TABLE contacts (contact_id TEXT PRIMARY KEY, borrower_id TEXT, loan_id TEXT,
  channel TEXT, direction TEXT, at TIMESTAMPTZ, outcome TEXT, target TEXT, party TEXT,
  agency_id TEXT);
CREATE INDEX contacts_by_borrower ON contacts (borrower_id);
CREATE TABLE promises (promise_id TEXT PRIMARY KEY, loan_id TEXT, created_at TIMESTAMPTZ,
  amount_minor BIGINT, due_date DATE);
CREATE INDEX promises_by_loan ON promises (loan_id);
SQL
start=$(date +%s.%N)
for t in borrowers loans installments payments contacts promises; do
  f="$dir/$t.csv"
  [ -f "$f" ] || continue
  cols=$(head -1 "$f")
  psql "$url" -qc "\\copy $t ($cols) FROM '$f' WITH (FORMAT csv, HEADER true)"
done
end=$(date +%s.%N)
echo "psql \\copy of $dir: $(echo "$end - $start" | bc) s"
psql "$admin" -qc "DROP DATABASE $db"
