//! Bearer tokens: the set a server accepts, read from a file and/or `DT_AUTH_TOKEN`, and the
//! check of an `authorization` header against it.
//!
//! Tokens are kept only as SHA-256 digests, and a presented token is hashed and compared with
//! every digest in constant time (`subtle`), so neither the length nor the first differing
//! byte of a valid token shows in the time a refusal takes. The set's `Debug` output never
//! shows a token, so it cannot leak through a log line.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use subtle::{Choice, ConstantTimeEq};

/// The environment variable holding one token.
pub const TOKEN_ENV: &str = "DT_AUTH_TOKEN";

type TokenDigest = [u8; 32];

fn digest(token: &[u8]) -> TokenDigest {
    Sha256::digest(token).into()
}

/// Why the token configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    Read {
        /// The file named by `--auth-token-file`.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The token file holds no token.
    #[error("the token file {path} holds no token (one token per line; blank lines are ignored)")]
    Empty {
        /// The file named by `--auth-token-file`.
        path: PathBuf,
    },
    /// A token contains a character that cannot travel in an HTTP header.
    #[error(
        "a token in {source_name} contains whitespace or a control character: tokens must be \
         visible ASCII (line {line})"
    )]
    Invalid {
        /// The file path or the environment variable.
        source_name: String,
        /// 1-based line number (1 for the environment variable).
        line: usize,
    },
    /// `DT_AUTH_TOKEN` is set but blank.
    #[error("{TOKEN_ENV} is set but empty")]
    EmptyEnv,
}

/// Why a call was refused. The message never includes what the caller sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No `authorization` header.
    #[error("missing authorization: send 'authorization: Bearer <token>'")]
    Missing,
    /// A header that is not `Bearer <token>`.
    #[error("malformed authorization: send 'authorization: Bearer <token>'")]
    Malformed,
    /// A bearer token that is not in the set.
    #[error("invalid bearer token")]
    Invalid,
}

/// The tokens a server accepts; empty means authentication is off.
#[derive(Clone, Default)]
pub struct TokenSet {
    digests: Vec<TokenDigest>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSet({} tokens, redacted)", self.digests.len())
    }
}

impl TokenSet {
    /// A set of the given tokens (surrounding whitespace trimmed, blanks skipped).
    pub fn new<I, T>(tokens: I) -> Result<Self, TokenError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut set = Self::default();
        for (i, token) in tokens.into_iter().enumerate() {
            set.add(token.as_ref(), "the token list", i + 1)?;
        }
        Ok(set)
    }

    /// Reads `--auth-token-file` (when given) and `DT_AUTH_TOKEN` (when set): the union of both.
    pub fn load(file: Option<&Path>, env: Option<String>) -> Result<Self, TokenError> {
        let mut set = Self::default();
        if let Some(path) = file {
            set.add_file(path)?;
        }
        if let Some(value) = env {
            if value.trim().is_empty() {
                return Err(TokenError::EmptyEnv);
            }
            set.add(&value, TOKEN_ENV, 1)?;
        }
        Ok(set)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_owned(),
            source,
        })?;
        let before = self.digests.len();
        let name = path.display().to_string();
        for (i, line) in text.lines().enumerate() {
            self.add(line, &name, i + 1)?;
        }
        if self.digests.len() == before {
            return Err(TokenError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    fn add(&mut self, raw: &str, source_name: &str, line: usize) -> Result<(), TokenError> {
        let token = raw.trim();
        if token.is_empty() {
            return Ok(());
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Invalid {
                source_name: source_name.to_owned(),
                line,
            });
        }
        self.digests.push(digest(token.as_bytes()));
        Ok(())
    }

    /// Whether any token is configured (authentication is on).
    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// How many tokens the set holds.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the set is empty (authentication is off).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Checks one presented token against every token in the set, in constant time.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        // No early exit: every digest is compared whatever the outcome.
        let found = self
            .digests
            .iter()
            .fold(Choice::from(0), |found, d| found | d.ct_eq(&presented));
        bool::from(found)
    }

    /// Checks a request's `authorization` header: `Bearer <token>` (the scheme is
    /// case-insensitive, as RFC 6750 allows). Always succeeds when the set is empty.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), Unauthenticated> {
        if !self.is_enabled() {
            return Ok(());
        }
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(Unauthenticated::Missing)?;
        self.check_authorization(value.as_bytes())
    }

    /// Checks the value of an `authorization` header.
    pub fn check_authorization(&self, value: &[u8]) -> Result<(), Unauthenticated> {
        if !self.is_enabled() {
            return Ok(());
        }
        let token = bearer_token(value).ok_or(Unauthenticated::Malformed)?;
        if self.accepts(token) {
            Ok(())
        } else {
            Err(Unauthenticated::Invalid)
        }
    }
}

/// The token of a `Bearer <token>` header value.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = value[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn headers(value: &str) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(value)?,
        );
        Ok(h)
    }

    fn temp_file(content: &str) -> std::io::Result<tempfile::NamedTempFile> {
        let mut f = tempfile::NamedTempFile::new()?;
        f.write_all(content.as_bytes())?;
        Ok(f)
    }

    #[test]
    fn file_tokens_trimmed_blank_lines_ignored() -> TestResult {
        let f = temp_file("\n  alpha  \n\n\tbeta\r\n   \n")?;
        let set = TokenSet::load(Some(f.path()), None)?;
        assert_eq!(set.len(), 2);
        assert!(set.accepts(b"alpha"));
        assert!(set.accepts(b"beta"));
        assert!(!set.accepts(b"  alpha  "));
        assert!(!set.accepts(b"gamma"));
        assert!(!set.accepts(b""));
        Ok(())
    }

    #[test]
    fn file_and_env_are_united() -> TestResult {
        let f = temp_file("one\n")?;
        let set = TokenSet::load(Some(f.path()), Some(" two ".into()))?;
        assert!(set.accepts(b"one") && set.accepts(b"two"));
        assert_eq!(set.len(), 2);
        Ok(())
    }

    #[test]
    fn empty_or_blank_file_is_an_error() -> TestResult {
        for content in ["", "\n\n  \n\t\n"] {
            let f = temp_file(content)?;
            let err = TokenSet::load(Some(f.path()), None).err();
            assert!(
                matches!(err, Some(TokenError::Empty { .. })),
                "{content:?}: {err:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn missing_file_is_a_read_error_naming_the_path() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("absent");
        let err = TokenSet::load(Some(&path), None).err();
        let Some(err @ TokenError::Read { .. }) = err else {
            return Err(format!("expected a read error, got {err:?}").into());
        };
        assert!(err.to_string().contains(&path.display().to_string()));
        Ok(())
    }

    #[test]
    fn blank_env_is_an_error_and_unset_means_off() -> TestResult {
        assert!(matches!(
            TokenSet::load(None, Some("  ".into())),
            Err(TokenError::EmptyEnv)
        ));
        let off = TokenSet::load(None, None)?;
        assert!(!off.is_enabled());
        assert_eq!(off.check_headers(&HeaderMap::new()), Ok(()));
        Ok(())
    }

    #[test]
    fn tokens_with_inner_whitespace_or_controls_are_refused() -> TestResult {
        let f = temp_file("good\nbad token\n")?;
        let err = TokenSet::load(Some(f.path()), None).err();
        assert!(
            matches!(err, Some(TokenError::Invalid { line: 2, .. })),
            "{err:?}"
        );
        assert!(TokenSet::new(["a\u{7}b"]).is_err());
        Ok(())
    }

    #[test]
    fn header_checks() -> TestResult {
        let set = TokenSet::new(["s3cret", "other"])?;
        assert_eq!(set.check_headers(&headers("Bearer s3cret")?), Ok(()));
        assert_eq!(set.check_headers(&headers("bearer other")?), Ok(()));
        assert_eq!(set.check_headers(&headers("BEARER  s3cret ")?), Ok(()));
        assert_eq!(
            set.check_headers(&HeaderMap::new()),
            Err(Unauthenticated::Missing)
        );
        for bad in [
            "s3cret",
            "Basic s3cret",
            "Bearer",
            "Bearer ",
            "Bearers3cret",
        ] {
            assert_eq!(
                set.check_headers(&headers(bad)?),
                Err(Unauthenticated::Malformed),
                "{bad:?}"
            );
        }
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET"] {
            assert_eq!(
                set.check_headers(&headers(wrong)?),
                Err(Unauthenticated::Invalid),
                "{wrong:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn debug_output_shows_no_token() -> TestResult {
        let set = TokenSet::new(["very-secret-value"])?;
        let shown = format!("{set:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("1 tokens"));
        Ok(())
    }
}
