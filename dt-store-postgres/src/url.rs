//! The database URL: parsed once, and shown only with its password hidden, so neither a log
//! line nor an error message ever carries it.

use std::fmt;
use std::str::FromStr;

/// A `postgres://` (or `postgresql://`) URL, e.g. `postgres://dt@db.example:5432/dt`. Shown
/// (`Display`, `Debug`) with any password replaced by `***`; [`PgUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

/// A URL the driver cannot read.
#[derive(Debug, thiserror::Error)]
#[error("{url} is not a PostgreSQL URL ({reason}): use postgres://USER@HOST:PORT/DATABASE")]
pub struct PgUrlError {
    url: String,
    reason: String,
}

impl FromStr for PgUrl {
    type Err = PgUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let failed = |reason: String| PgUrlError {
            url: redact(s),
            reason,
        };
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(failed(
                "it must start with postgres:// or postgresql://".to_owned(),
            ));
        }
        let config = postgres::Config::from_str(s).map_err(|e| failed(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(failed("it names no host".to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl PgUrl {
    /// The URL as given, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", redact(&self.0))
    }
}

/// `url` with the password of its user part (`user:secret@`) and any `password=` parameter
/// replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(at) = url.find("://") else {
        // Not a URL: perhaps `key=value` words; hide every password word.
        let words: Vec<String> = url
            .split(' ')
            .map(|word| match word.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => word.to_owned(),
            })
            .collect();
        return words.join(" ");
    };
    let (scheme, rest) = url.split_at(at + 3);
    // The user part ends at the last '@' before the path or the parameters.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let mut out = scheme.to_owned();
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            match user_info.find(':') {
                Some(colon) => {
                    out.push_str(&user_info[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(user_info),
            }
            out.push_str(&rest[at..authority_end]);
        }
        None => out.push_str(&rest[..authority_end]),
    }
    let tail = &rest[authority_end..];
    let Some(query_at) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=query_at]);
    let params: Vec<String> = tail[query_at + 1..]
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    out.push_str(&params.join("&"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        for (url, shown) in [
            (
                "postgres://dt:s3cret@db:5432/dt",
                "postgres://dt:***@db:5432/dt",
            ),
            ("postgres://dt@db/dt", "postgres://dt@db/dt"),
            (
                "postgresql://a:b@c@db/dt?password=x&sslmode=disable",
                "postgresql://a:***@db/dt?password=***&sslmode=disable",
            ),
            ("postgres://db", "postgres://db"),
            ("host=db password=x user=dt", "host=db password=*** user=dt"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
        let url: PgUrl = "postgres://dt:s3cret@db:5432/dt".parse().expect("a URL");
        assert!(!url.to_string().contains("s3cret"));
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "postgres://dt:s3cret@db:5432/dt");
    }

    #[test]
    fn only_postgres_urls_parse() {
        assert!("postgres://dt@127.0.0.1:5432/dt".parse::<PgUrl>().is_ok());
        assert!("postgresql://dt@localhost/dt".parse::<PgUrl>().is_ok());
        for bad in ["", "postgres:", "mysql://x@y/z", "host=db user=dt"] {
            assert!(bad.parse::<PgUrl>().is_err(), "{bad:?}");
        }
        let err = "postgres://u:pw@db:notaport/x"
            .parse::<PgUrl>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.is_empty() && !err.contains(":pw@"), "{err}");
    }
}
