//! Registry authentication: parsing `WWW-Authenticate` challenges (RFC 7235
//! auth-params, as the distribution spec's token flow uses them) and the
//! token-service answer. The HTTP exchange itself lives in the client.

use serde::Deserialize;

/// A challenge from a 401 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`: send credentials with every request.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`: get a token from `realm`.
    Bearer {
        /// Token service URL.
        realm: String,
        /// `service` parameter, if given.
        service: Option<String>,
        /// `scope` parameter, if given.
        scope: Option<String>,
    },
}

/// Parse the auth-params of a challenge: `k="v", k2=v2`.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut value = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                // Push whole UTF-8 characters.
                let ch_len = s[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                value.push_str(&s[i..i + ch_len]);
                i += ch_len;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            value = s[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, value));
        }
    }
    out
}

/// Parse a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let p = params(rest);
            let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            })
        }
        _ => None,
    }
}

/// The token service's JSON answer (`token` or the OAuth2 `access_token`).
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl TokenAnswer {
    /// The bearer token, whichever field carries it.
    pub fn token(self) -> Option<String> {
        self.token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))
    }
}

/// Percent-encode a query parameter value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://x/t, error="invalid_token""#),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn tokens_and_escaping() {
        let a: TokenAnswer = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(a.token().as_deref(), Some("a"));
        let a: TokenAnswer = serde_json::from_str(r#"{"token":"t","access_token":"a"}"#).unwrap();
        assert_eq!(a.token().as_deref(), Some("t"));
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
