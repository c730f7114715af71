//! The service's public address (`arrears serve --base-url`): the one origin portal links
//! are written under (never the request's `Host` header, which a client chooses), and what
//! decides whether cookies are `Secure` (an `https://` base URL: the service sits behind TLS).

/// `http(s)://host[:port][/prefix]`, without a trailing slash, query, fragment or user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a base URL: expected http(s)://host[:port][/path], no query, fragment or user"
)]
pub struct BadBaseUrl(pub String);

impl BaseUrl {
    pub fn parse(s: &str) -> Result<BaseUrl, BadBaseUrl> {
        let bad = || BadBaseUrl(s.to_owned());
        let trimmed = s.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let (host, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
            && !path.contains("//");
        if !host_ok || !path_ok {
            return Err(bad());
        }
        Ok(BaseUrl(trimmed.to_owned()))
    }

    /// The base URL of a service listening on `addr` without TLS (`http://addr`).
    pub fn of_listener(addr: std::net::SocketAddr) -> BaseUrl {
        BaseUrl(format!("http://{addr}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the service is reached over TLS (cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_strictly() {
        let b = BaseUrl::parse("https://collect.example.com/").unwrap();
        assert_eq!(b.as_str(), "https://collect.example.com");
        assert!(b.is_https());
        let b = BaseUrl::parse("http://127.0.0.1:8080/arrears").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:8080/arrears");
        assert!(!b.is_https());
        for bad in [
            "collect.example.com",
            "ftp://x",
            "https://",
            "https://user@x",
            "https://x/?a=1",
            "https://x/#f",
            "https://x y",
            "https://x//y",
            "javascript:alert(1)",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BaseUrl::of_listener("127.0.0.1:9".parse().unwrap()).as_str(),
            "http://127.0.0.1:9"
        );
    }
}
