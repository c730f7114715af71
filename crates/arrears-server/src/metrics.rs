//! A small Prometheus registry (text exposition format 0.0.4): requests by method, route and
//! status, a latency histogram per route, pre-contact decisions and the rule ids behind each
//! denial, and contacts refused at recording, by rule id. Hand-rolled because the service
//! needs a handful of counters and one histogram; the crate graph stays small.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds, with their `le` labels.
const BUCKETS: [(u64, &str); 12] = [
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum_micros: u64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    checks: BTreeMap<&'static str, u64>,
    denials: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
}

/// The service's counters. Cheap to update (one short lock).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// The methods counted by name; any other is `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The metrics label of an HTTP method.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A poisoned lock only means another request panicked mid-update; counters stay usable.
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g);
    }

    /// One answered request. `route` is the matched route template (`/v1/accounts/{loan_id}`,
    /// or `unmatched`), never the raw path, so ids do not become labels; a method outside
    /// the standard ones is counted as `other`, so a client cannot add labels.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let method = method_label(method);
        self.with(|m| {
            *m.requests
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
            let h = m.latency.entry(route.to_owned()).or_default();
            let slot = BUCKETS
                .iter()
                .position(|(le, _)| micros <= *le)
                .unwrap_or(BUCKETS.len());
            h.counts[slot] += 1;
            h.sum_micros = h.sum_micros.saturating_add(micros);
            h.count += 1;
        });
    }

    /// How many label sets the request counter and the latency histogram hold: bounded by
    /// the routes, the methods below and the status codes, whatever clients send.
    pub fn label_sets(&self) -> (usize, usize) {
        let mut out = (0, 0);
        self.with(|m| out = (m.requests.len(), m.latency.len()));
        out
    }

    /// One pre-contact decision, with the rule ids of a denial.
    pub fn decision(&self, allowed: bool, rule_ids: &[&str]) {
        self.with(|m| {
            *m.checks
                .entry(if allowed { "allow" } else { "deny" })
                .or_default() += 1;
            for r in rule_ids {
                *m.denials.entry((*r).to_owned()).or_default() += 1;
            }
        });
    }

    /// A contact refused at recording because the rules deny it.
    pub fn refused(&self, rule_ids: &[&str]) {
        self.with(|m| {
            for r in rule_ids {
                *m.refused.entry((*r).to_owned()).or_default() += 1;
            }
        });
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.with(|m| {
            let _ = writeln!(
                out,
                "# HELP arrears_http_requests_total HTTP requests answered, by method, route and status.\n# TYPE arrears_http_requests_total counter"
            );
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "arrears_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
            let _ = writeln!(
                out,
                "# HELP arrears_http_request_duration_seconds Time to answer a request, by route.\n# TYPE arrears_http_request_duration_seconds histogram"
            );
            for (route, h) in &m.latency {
                let route = escape(route);
                let mut cumulative = 0;
                for (i, (_, le)) in BUCKETS.iter().enumerate() {
                    cumulative += h.counts[i];
                    let _ = writeln!(
                        out,
                        "arrears_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "arrears_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "arrears_http_request_duration_seconds_sum{{route=\"{route}\"}} {}.{:06}",
                    h.sum_micros / 1_000_000,
                    h.sum_micros % 1_000_000
                );
                let _ = writeln!(
                    out,
                    "arrears_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
            let _ = writeln!(
                out,
                "# HELP arrears_contact_checks_total Pre-contact checks answered, by decision.\n# TYPE arrears_contact_checks_total counter"
            );
            for (d, n) in &m.checks {
                let _ = writeln!(out, "arrears_contact_checks_total{{decision=\"{d}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP arrears_contact_denials_total Rules that failed in denied checks, by rule id.\n# TYPE arrears_contact_denials_total counter"
            );
            for (r, n) in &m.denials {
                let _ = writeln!(
                    out,
                    "arrears_contact_denials_total{{rule_id=\"{}\"}} {n}",
                    escape(r)
                );
            }
            let _ = writeln!(
                out,
                "# HELP arrears_contacts_refused_total Contacts refused at recording because a rule denies them, by rule id.\n# TYPE arrears_contacts_refused_total counter"
            );
            for (r, n) in &m.refused {
                let _ = writeln!(
                    out,
                    "arrears_contacts_refused_total{{rule_id=\"{}\"}} {n}",
                    escape(r)
                );
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counters_labelled() {
        let m = Metrics::default();
        m.request("GET", "/healthz", 200, Duration::from_micros(100));
        m.request("GET", "/healthz", 200, Duration::from_millis(3));
        m.request("POST", "/v1/contacts", 409, Duration::from_secs(2));
        m.decision(false, &["US-HOURS", "US-7IN7"]);
        m.decision(true, &[]);
        m.refused(&["ALL-HOLD-DISPUTE"]);
        let t = m.render();
        assert!(t.contains(
            "arrears_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(t.contains(
            "arrears_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.00025\"} 1"
        ));
        assert!(t.contains(
            "arrears_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 2"
        ));
        assert!(t.contains(
            "arrears_http_request_duration_seconds_bucket{route=\"/v1/contacts\",le=\"1\"} 0"
        ));
        assert!(t.contains(
            "arrears_http_request_duration_seconds_bucket{route=\"/v1/contacts\",le=\"+Inf\"} 1"
        ));
        assert!(
            t.contains("arrears_http_request_duration_seconds_sum{route=\"/healthz\"} 0.003100")
        );
        assert!(t.contains("arrears_contact_checks_total{decision=\"deny\"} 1"));
        assert!(t.contains("arrears_contact_denials_total{rule_id=\"US-HOURS\"} 1"));
        assert!(t.contains("arrears_contacts_refused_total{rule_id=\"ALL-HOLD-DISPUTE\"} 1"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for i in 0..100_000 {
            m.request(&format!("X{i}"), "unmatched", 405, Duration::from_micros(1));
        }
        m.request("GET", "unmatched", 404, Duration::from_micros(1));
        assert_eq!(m.label_sets(), (2, 1));
        let t = m.render();
        assert!(t.contains(
            "arrears_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 100000"
        ));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
