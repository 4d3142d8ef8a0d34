//! Outbound HTTP for metadata and keys: timeouts, a body-size cap, TLS always verified, and
//! redirects followed only within the same origin (docs/security.md case 30).

use std::time::Duration;

use url::Url;

use crate::config::is_loopback;
use crate::error::FetchError;
use crate::tls::RootCertificates;

/// Limits and trust for requests the SDK makes to the issuer.
///
/// TLS certificates are always verified. An issuer behind a private certificate authority is
/// reached by trusting that CA in [`HttpOptions::root_certificates`] (or with
/// `PORTCULLIS_CA_FILE`, see [`crate::tls`]):
///
/// ```no_run
/// # fn main() -> Result<(), portcullis::Error> {
/// use portcullis::{HttpOptions, TokenVerifier, tls::RootCertificates};
///
/// let options = HttpOptions {
///     root_certificates: RootCertificates::from_pem_file("/etc/ssl/private-ca.pem")?,
///     ..HttpOptions::default()
/// };
/// let verifier = TokenVerifier::builder("https://id.internal.example")
///     .audience("https://api.internal.example")
///     .http_options(options)
///     .build()?;
/// # let _ = verifier; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Time allowed to establish a connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included. Default 10 s.
    pub request_timeout: Duration,
    /// Largest response body accepted. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Accept plain `http` URLs on hosts that are not loopback. Default `false`.
    pub allow_insecure_http: bool,
    /// Certificate authorities trusted besides the system's roots (never instead of them).
    /// Default none; [`Config`](crate::Config)'s roots (`PORTCULLIS_CA_FILE`) are added to these
    /// by the clients built from a configuration.
    pub root_certificates: RootCertificates,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            allow_insecure_http: false,
            root_certificates: RootCertificates::default(),
        }
    }
}

/// A response that was read in full (within the size cap).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` in seconds, when present (and no `no-store`/`no-cache`).
    pub max_age: Option<u64>,
}

/// A response to a request of the client flows: any status, the body read within the cap.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A small HTTP client for the issuer: GETs JSON documents (metadata, keys) and POSTs forms to
/// the token, revocation and introspection endpoints.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    /// For requests that carry credentials: follows no redirect at all, so a secret, a code or a
    /// token is never re-sent anywhere (a 307 would repeat the body; docs/security.md case 30).
    no_redirect: reqwest::Client,
    options: HttpOptions,
}

impl HttpClient {
    pub(crate) fn new(options: HttpOptions) -> Result<Self, FetchError> {
        let client = client_builder(&options.root_certificates)?
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Follow at most 3 redirects, and only to the same origin: a redirect elsewhere
                // could point the SDK at attacker-controlled keys or internal services.
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if attempt.previous().len() > 3 || !same_origin {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(USER_AGENT)
            .build()
            .map_err(build_error)?;
        let no_redirect = client_builder(&options.root_certificates)?
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(build_error)?;
        Ok(HttpClient {
            client,
            no_redirect,
            options,
        })
    }

    /// POSTs an `application/x-www-form-urlencoded` body, with optional HTTP Basic credentials
    /// (already encoded) and extra headers; never follows redirects. Any status is returned.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Result<Answer, FetchError> {
        let parsed = self.check_url(url)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .no_redirect
            .post(parsed)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.answer(url, request).await
    }

    /// GETs `url` with a bearer token (e.g. UserInfo); never follows redirects. Any status is
    /// returned.
    pub(crate) async fn get_bearer(&self, url: &str, token: &str) -> Result<Answer, FetchError> {
        let parsed = self.check_url(url)?;
        let request = self
            .no_redirect
            .get(parsed)
            .header("accept", "application/json")
            .bearer_auth(token);
        self.answer(url, request).await
    }

    async fn answer(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, FetchError> {
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: url.to_owned(),
            message: describe(&e),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(&mut response, url, self.options.max_body_bytes).await?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// Checks that `url` may be fetched: https, or http on loopback (or explicitly allowed).
    pub(crate) fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InsecureUrl {
            url: url.to_owned(),
            message: format!("not a URL ({e})"),
        })?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if is_loopback(&parsed) || self.options.allow_insecure_http => Ok(parsed),
            _ => Err(FetchError::InsecureUrl {
                url: url.to_owned(),
                message: "only https URLs are fetched (http only on loopback)".to_owned(),
            }),
        }
    }

    /// GETs `url`, reading at most `max_body_bytes`.
    pub(crate) async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = self.check_url(url)?;
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: url.to_owned(),
            message: describe(&e),
        };
        let mut response = self
            .client
            .get(parsed)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let limit = self.options.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let max_age = response
            .headers()
            .get_all("cache-control")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let max_age = parse_max_age(&max_age);
        let body = read_capped(&mut response, url, limit).await?;
        Ok(Fetched { body, max_age })
    }
}

const USER_AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

/// A reqwest builder that trusts the system's roots and `roots`.
pub(crate) fn client_builder(
    roots: &RootCertificates,
) -> Result<reqwest::ClientBuilder, FetchError> {
    let builder = reqwest::Client::builder();
    if roots.is_empty() {
        return Ok(builder);
    }
    Ok(builder.tls_certs_merge(roots.to_reqwest().map_err(build_error)?))
}

fn build_error(e: reqwest::Error) -> FetchError {
    FetchError::Transport {
        url: String::new(),
        message: format!("could not build the HTTP client: {e}"),
    }
}

/// Reads a body, refusing more than `limit` bytes.
async fn read_capped(
    response: &mut reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Transport {
        url: url.to_owned(),
        message: describe(&e),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its causes, without the URL (which callers add themselves).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_redirect() {
        "redirect not followed (only same-origin redirects are)".to_owned()
    } else {
        "transport error".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `max-age` from a `Cache-Control` value; `None` with `no-store` or `no-cache`.
pub(crate) fn parse_max_age(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = arg.and_then(|a| a.parse::<u64>().ok());
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::parse_max_age;

    #[test]
    fn max_age_parsing() {
        assert_eq!(parse_max_age("public, max-age=3600"), Some(3600));
        assert_eq!(parse_max_age("max-age=\"60\""), Some(60));
        assert_eq!(parse_max_age("no-store, max-age=60"), Some(0));
        assert_eq!(parse_max_age("max-age=abc"), None);
        assert_eq!(parse_max_age(""), None);
    }
}
