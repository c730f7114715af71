-- The daily run as one DuckDB query, for the side-by-side benchmark (bench/compare.sh).
-- Same inputs and outputs as `arrears run --format parquet` with the default configuration
-- and business time zone UTC, EXCEPT penalty interest: the day-by-day penalty base needs a
-- per-day re-allocation that has no reasonable set-based form, so penalty_accrued_minor and
-- penalty_paid_minor are 0 here and credit is P − total. Everything else is computed:
-- reversals, the fee→interest→principal waterfall in seq order, advance payments,
-- overdue by component, dpd, buckets, stages, status, last payment date.
-- Parameters: {dir} (portfolio folder), {as_of} (YYYY-MM-DD), {out} (output folder).
SET TimeZone = 'UTC';
COPY (
WITH pay AS (
  SELECT payment_id, loan_id, amount_minor, coalesce(kind, 'payment') AS kind, reverses,
         CAST(received_at AS DATE) AS booked
  FROM read_parquet('{dir}/payments.parquet')
),
rev AS (
  SELECT reverses AS payment_id, min(booked) AS rev_booked FROM pay WHERE kind = 'reversal' GROUP BY reverses
),
eff AS (
  SELECT p.loan_id, p.amount_minor, p.booked
  FROM pay p LEFT JOIN rev r USING (payment_id)
  WHERE p.kind = 'payment' AND p.booked <= DATE '{as_of}'
    AND (r.rev_booked IS NULL OR r.rev_booked > DATE '{as_of}')
),
paid AS (
  SELECT loan_id, sum(amount_minor) AS p, max(booked) AS last_payment_date FROM eff GROUP BY loan_id
),
inst AS (
  SELECT loan_id, seq, due_date, principal_minor, interest_minor, fee_minor,
         fee_minor + interest_minor + principal_minor AS tot,
         sum(fee_minor + interest_minor + principal_minor)
           OVER (PARTITION BY loan_id ORDER BY seq ROWS UNBOUNDED PRECEDING)
           - (fee_minor + interest_minor + principal_minor) AS cum_before
  FROM read_parquet('{dir}/installments.parquet')
),
alloc AS (
  SELECT i.*, coalesce(pd.p, 0) AS p,
         greatest(0, least(i.tot, coalesce(pd.p, 0) - i.cum_before)) AS paid_i
  FROM inst i LEFT JOIN paid pd USING (loan_id)
),
comp AS (
  SELECT *, least(fee_minor, paid_i) AS fee_paid,
         least(interest_minor, paid_i - least(fee_minor, paid_i)) AS int_paid
  FROM alloc
),
agg AS (
  SELECT loan_id,
         sum(tot) AS total,
         coalesce(sum(tot) FILTER (WHERE due_date < DATE '{as_of}'), 0) AS due_to_date,
         coalesce(sum(fee_minor - fee_paid) FILTER (WHERE due_date < DATE '{as_of}'), 0) AS o_fee,
         coalesce(sum(interest_minor - int_paid) FILTER (WHERE due_date < DATE '{as_of}'), 0) AS o_int,
         coalesce(sum(principal_minor - (paid_i - fee_paid - int_paid)) FILTER (WHERE due_date < DATE '{as_of}'), 0) AS o_prin,
         sum(principal_minor - (paid_i - fee_paid - int_paid)) AS outstanding,
         min(due_date) FILTER (WHERE paid_i < tot) AS first_unpaid
  FROM comp GROUP BY loan_id
),
res AS (
  SELECT l.loan_id, l.borrower_id, coalesce(l.status, 'active') AS file_status,
         coalesce(pd.p, 0) AS p, pd.last_payment_date,
         coalesce(a.total, 0) AS total, coalesce(a.due_to_date, 0) AS due_to_date,
         coalesce(a.o_fee, 0) AS o_fee, coalesce(a.o_int, 0) AS o_int, coalesce(a.o_prin, 0) AS o_prin,
         coalesce(a.outstanding, 0) AS outstanding, a.first_unpaid,
         greatest(0, coalesce(a.due_to_date, 0) - least(coalesce(pd.p, 0), coalesce(a.total, 0))) AS overdue
  FROM read_parquet('{dir}/loans.parquet') l
  LEFT JOIN agg a USING (loan_id)
  LEFT JOIN paid pd USING (loan_id)
),
d AS (
  SELECT *, CASE WHEN overdue > 0 THEN date_diff('day', first_unpaid, DATE '{as_of}') ELSE 0 END AS dpd FROM res
)
SELECT loan_id, borrower_id, DATE '{as_of}' AS as_of,
  CASE WHEN p >= total THEN 'paid_off'
       WHEN file_status IN ('written_off', 'sold', 'closed') THEN file_status
       WHEN dpd > 0 THEN 'delinquent' ELSE 'current' END AS status,
  dpd,
  CASE WHEN dpd = 0 THEN 'current' WHEN dpd <= 30 THEN 'M1' WHEN dpd <= 60 THEN 'M2' WHEN dpd <= 90 THEN 'M3'
       WHEN dpd <= 120 THEN 'M4' WHEN dpd <= 150 THEN 'M5' WHEN dpd <= 180 THEN 'M6' ELSE 'M6+' END AS bucket,
  CASE WHEN dpd = 0 THEN 'current' WHEN dpd <= 7 THEN 'early' WHEN dpd <= 90 THEN 'mid'
       WHEN dpd <= 180 THEN 'late' ELSE 'bad_debt' END AS stage,
  due_to_date AS due_to_date_minor, p AS paid_minor, overdue AS overdue_minor,
  o_fee AS overdue_fee_minor, o_int AS overdue_interest_minor, o_prin AS overdue_principal_minor,
  outstanding AS outstanding_principal_minor, 0 AS penalty_accrued_minor, 0 AS penalty_paid_minor,
  false AS penalty_rate_capped, greatest(0, p - total) AS credit_minor,
  CASE WHEN dpd > 0 THEN first_unpaid END AS oldest_unpaid_due_date, last_payment_date
FROM d ORDER BY loan_id
) TO '{out}/accounts_duckdb.parquet' (FORMAT PARQUET);
