//! Load driver for complete OpenID Connect authorization-code flows: `bench/load.sh` runs it
//! against portcullis and against node's oidc-provider, side by side.
//!
//! ```text
//! FLOW_LOAD_CLIENT_SECRET=… FLOW_LOAD_PASSWORD=… cargo run --release -p portcullis-server \
//!   --example flow_load -- --issuer http://127.0.0.1:3000 --scenario sso \
//!   --client-id bench-web --redirect-uri http://127.0.0.1:9/bench/callback \
//!   --email bench@example.com --audience https://api.example.com --users 8 --duration 10
//! ```
//!
//! `--users` virtual users run complete flows, one after another each, for `--duration` seconds
//! or until `--max-flows` flows have started, whichever comes first (flows under way then are
//! finished and counted). A flow is:
//!
//! 1. `GET` the authorization endpoint with PKCE (S256), `state` and `nonce`;
//! 2. whatever the provider answers on its own origin: redirects are followed; a page with a
//!    form (sign-in, or oidc-provider's consent) is filled in and posted, only in flows that may
//!    sign in;
//! 3. the redirect to the application's redirect URI (never requested): `state` and, when
//!    present, `iss` must match; the code is taken;
//! 4. `POST` the token endpoint (`authorization_code`, `client_secret_basic`, the verifier): an
//!    access token and an ID token must come back; the ID token's `nonce`, `aud` and `iss`, and
//!    the access token's `aud` (with `--audience`), are checked (signatures are not: the interop
//!    suite does that, and the driver's CPU belongs to the load).
//!
//! Scenarios: `sso`: each virtual user signs in once before the clock starts and then repeats
//! flows with its session cookie (what an application with signed-in users does; the provider
//! must not ask to sign in again); `sign-in`: every flow is a fresh browser that signs in on the
//! hosted form (so it costs a password verification where the provider does one).
//!
//! Prints one summary line, `flows=… failures=… elapsed_s=… flows_per_s=… p50_ms=… p99_ms=…
//! requests_per_flow=…`, and the reasons of failures (never a token, code, secret or password).
//! Exits non-zero when any flow failed or the run could not start.
//!
//! Bounds: only loopback issuers are accepted, and every request goes to the issuer's origin
//! (discovery's endpoints, redirects and form actions elsewhere are refused); duration at most
//! 600 s; every request has a timeout; the run stops early after `--max-failures` failures.
//!
//! Why Rust and not a node script: the driver must stay well under one core (the load core of
//! `bench/load.sh`) while the server core is saturated; one thread of Tokio and reqwest spends a
//! few microseconds per request. Cookies are kept by hand (names, values, paths, deletion) so
//! that the example needs no dependency feature beyond what the `portcullis` binary already
//! builds with: `cargo build --release --bin portcullis --example flow_load` compiles nothing
//! twice.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::{Parser, ValueEnum};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, ORIGIN, SET_COOKIE};
use serde_json::Value;
use url::Url;

/// Redirects and pages one flow may go through before it is called a failure.
const MAX_HOPS: usize = 12;
/// Forms a signing-in flow may post: a sign-in form and, at oidc-provider, a consent form.
const SIGN_IN_FORMS: u32 = 2;

/// What the virtual users do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Sign in once per virtual user, then repeat flows with the session cookie.
    Sso,
    /// A fresh browser signing in on the hosted form in every flow.
    SignIn,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Sso => "sso",
            Scenario::SignIn => "sign-in",
        })
    }
}

/// Complete authorization-code flows per second against a loopback OpenID provider.
#[derive(Debug, Parser)]
#[command(name = "flow_load")]
struct Args {
    /// The provider's issuer URL (loopback only: 127.0.0.0/8, [::1] or localhost).
    #[arg(long)]
    issuer: String,
    /// `sso` (signed-in users) or `sign-in` (a fresh browser that signs in every time).
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// The web application's client id.
    #[arg(long)]
    client_id: String,
    /// The web application's client secret (client_secret_basic).
    #[arg(long, env = "FLOW_LOAD_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// A redirect URI registered for the application (never requested).
    #[arg(long)]
    redirect_uri: String,
    /// The scopes requested.
    #[arg(long, default_value = "openid profile email")]
    scope: String,
    /// The API the access token is for, if any.
    #[arg(long)]
    audience: Option<String>,
    /// The authorization parameter naming the API: `audience` (Kinde, portcullis) or
    /// `resource` (RFC 8707, oidc-provider).
    #[arg(long, default_value = "audience")]
    audience_param: String,
    /// The user's email (the sign-in name).
    #[arg(long)]
    email: String,
    /// The user's password.
    #[arg(long, env = "FLOW_LOAD_PASSWORD", hide_env_values = true)]
    password: String,
    /// Concurrent virtual users (1 to 512).
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Seconds to run (more than 0, at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// At most this many flows are started.
    #[arg(long, default_value_t = 200_000)]
    max_flows: u64,
    /// The run stops early after this many failed flows.
    #[arg(long, default_value_t = 100)]
    max_failures: u64,
    /// Seconds each request may take (more than 0, at most 60).
    #[arg(long, default_value_t = 10.0)]
    request_timeout: f64,
}

impl Args {
    fn check(&self) -> Result<Url, String> {
        if !(self.duration > 0.0 && self.duration <= 600.0) {
            return Err("--duration must be more than 0 and at most 600 seconds".into());
        }
        if !(self.request_timeout > 0.0 && self.request_timeout <= 60.0) {
            return Err("--request-timeout must be more than 0 and at most 60 seconds".into());
        }
        if !(1..=512).contains(&self.users) {
            return Err("--users must be between 1 and 512".into());
        }
        if self.max_flows == 0 || self.max_failures == 0 {
            return Err("--max-flows and --max-failures must be at least 1".into());
        }
        if self.audience_param.is_empty() {
            return Err("--audience-param must not be empty".into());
        }
        let issuer = Url::parse(&self.issuer).map_err(|e| format!("--issuer: {e}"))?;
        let loopback = match issuer.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback || !matches!(issuer.scheme(), "http" | "https") {
            return Err("--issuer must be an http(s) URL on a loopback address".into());
        }
        Url::parse(&self.redirect_uri).map_err(|e| format!("--redirect-uri: {e}"))?;
        Ok(issuer)
    }
}

/// Why a flow failed: the step, and what went wrong (never a token, code or secret).
#[derive(Debug)]
struct Failure(String);

impl Failure {
    fn new(step: &str, detail: impl fmt::Display) -> Failure {
        Failure(format!("{step}: {detail}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One browser's cookies: name, value and path (every request goes to one origin, so domains
/// do not matter). Deletions (`Max-Age=0`, an `Expires` in 1970, an empty value) are honoured.
#[derive(Debug, Default)]
struct Jar {
    cookies: Vec<(String, String, String)>,
}

impl Jar {
    fn store(&mut self, url: &Url, headers: &HeaderMap) {
        for set in headers.get_all(SET_COOKIE) {
            let Ok(set) = set.to_str() else { continue };
            let mut parts = set.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let mut path = None;
            let mut deleted = value.is_empty();
            for attribute in parts {
                let (k, v) = attribute.split_once('=').unwrap_or((attribute, ""));
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("path") && v.starts_with('/') {
                    path = Some(v.to_owned());
                } else if k.eq_ignore_ascii_case("max-age") {
                    deleted |= v.parse::<i64>().is_ok_and(|s| s <= 0);
                } else if k.eq_ignore_ascii_case("expires") {
                    deleted |= v.contains(" 1970 ");
                }
            }
            // RFC 6265 §5.1.4: the default path is the request path up to its last '/'.
            let path = path.unwrap_or_else(|| match url.path().rfind('/') {
                Some(0) | None => "/".to_owned(),
                Some(i) => url.path()[..i].to_owned(),
            });
            self.cookies.retain(|(n, _, p)| !(n == name && *p == path));
            if !deleted {
                self.cookies.push((name.to_owned(), value.to_owned(), path));
            }
        }
    }

    /// The `Cookie` header for `url` (RFC 6265 §5.1.4 path matching).
    fn header_for(&self, url: &Url) -> Option<String> {
        let request = url.path();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, _, path)| {
                request == path
                    || (request.starts_with(path.as_str())
                        && (path.ends_with('/')
                            || request.as_bytes().get(path.len()) == Some(&b'/')))
            })
            .map(|(name, value, _)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// An answer, read whole (so its connection goes back to the pool).
struct Reply {
    status: u16,
    /// `Location`, resolved against the request URL.
    location: Option<Url>,
    body: String,
    url: Url,
}

/// The first `<form>` of a page: its action and its inputs' names and values.
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>")? + start;
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action").unwrap_or_default();
    let mut fields = Vec::new();
    let mut rest = &form[tag_end..];
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let close = rest.find('>')?;
        let tag = &rest[..close];
        if let Some(name) = attribute(tag, "name") {
            fields.push((name, attribute(tag, "value").unwrap_or_default()));
        }
        rest = &rest[close..];
    }
    Some((action, fields))
}

/// A double-quoted attribute of a tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The payload of a JWT, not verified.
fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn audience_has(claims: &Value, want: &str) -> bool {
    match &claims["aud"] {
        Value::String(s) => s == want,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}

fn random(bytes: usize) -> Result<String, Failure> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| Failure::new("setup", "no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

struct Driver {
    args: Args,
    http: reqwest::Client,
    issuer: String,
    origin: url::Origin,
    redirect: Url,
    authorization_endpoint: Url,
    token_endpoint: Url,
    /// `Basic …` of the client (RFC 6749 §2.3.1: each part form-encoded first).
    basic: String,
    requests: AtomicU64,
}

impl Driver {
    /// Reads discovery; its endpoints must be on the issuer's origin.
    async fn new(args: Args, issuer: Url) -> Result<Driver, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs_f64(args.request_timeout))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let issuer_str = args.issuer.trim_end_matches('/').to_owned();
        let discovery_url = format!("{issuer_str}/.well-known/openid-configuration");
        let discovery: Value = async {
            http.get(&discovery_url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e: reqwest::Error| format!("discovery: {}", e.without_url()))?;
        if discovery["issuer"].as_str() != Some(issuer_str.as_str()) {
            return Err("discovery names another issuer".into());
        }
        let origin = issuer.origin();
        let endpoint = |name: &str| {
            discovery[name]
                .as_str()
                .and_then(|u| Url::parse(u).ok())
                .filter(|u| u.origin() == origin)
                .ok_or_else(|| format!("discovery: no {name} on the issuer's origin"))
        };
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let token_endpoint = endpoint("token_endpoint")?;
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                encode(&args.client_id),
                encode(&args.client_secret)
            ))
        );
        let redirect =
            Url::parse(&args.redirect_uri).map_err(|e| format!("--redirect-uri: {e}"))?;
        Ok(Driver {
            args,
            http,
            issuer: issuer_str,
            origin,
            redirect,
            authorization_endpoint,
            token_endpoint,
            basic,
            requests: AtomicU64::new(0),
        })
    }

    async fn send(
        &self,
        jar: Option<&mut Jar>,
        url: Url,
        request: reqwest::RequestBuilder,
        step: &str,
    ) -> Result<Reply, Failure> {
        let mut request = request;
        if let Some(cookie) = jar.as_ref().and_then(|j| j.header_for(&url)) {
            request = request.header(COOKIE, cookie);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| Failure::new(step, e.without_url()))?;
        if let Some(jar) = jar {
            jar.store(&url, response.headers());
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let body = response
            .text()
            .await
            .map_err(|e| Failure::new(step, e.without_url()))?;
        Ok(Reply {
            status,
            location,
            body,
            url,
        })
    }

    fn is_redirect_uri(&self, url: &Url) -> bool {
        url.origin() == self.redirect.origin() && url.path() == self.redirect.path()
    }

    /// Goes through the provider's redirects and pages from `start` until it redirects to the
    /// application, posting at most `forms` forms; returns where it redirected to.
    async fn browse(&self, jar: &mut Jar, start: Url, mut forms: u32) -> Result<Url, Failure> {
        let mut step = "authorize";
        let mut reply = self
            .send(Some(jar), start.clone(), self.http.get(start), step)
            .await?;
        for _ in 0..MAX_HOPS {
            if let Some(location) = reply.location.take()
                && (300..400).contains(&reply.status)
            {
                if self.is_redirect_uri(&location) {
                    return Ok(location);
                }
                if location.origin() != self.origin {
                    return Err(Failure::new(step, "redirected off the provider"));
                }
                step = "follow redirect";
                reply = self
                    .send(Some(jar), location.clone(), self.http.get(location), step)
                    .await?;
                continue;
            }
            if reply.status != 200 {
                return Err(Failure::new(step, format!("status {}", reply.status)));
            }
            if reply.body.contains("role=\"alert\"") || reply.body.contains("class=\"error\"") {
                return Err(Failure::new(
                    step,
                    "the page shows an error (wrong email or password?)",
                ));
            }
            if forms == 0 {
                return Err(Failure::new(
                    step,
                    "the provider showed a page (sign-in or consent) where a code was expected",
                ));
            }
            forms -= 1;
            step = "post form";
            let Some((action, fields)) = first_form(&reply.body) else {
                return Err(Failure::new(step, "no form on the page"));
            };
            let action = reply
                .url
                .join(&action)
                .ok()
                .filter(|a| a.origin() == self.origin)
                .ok_or_else(|| Failure::new(step, "the form posts off the provider"))?;
            let fields: Vec<(String, String)> = fields
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "email" | "login" => (name, self.args.email.clone()),
                    "password" => (name, self.args.password.clone()),
                    _ => (name, value),
                })
                .collect();
            let request = self
                .http
                .post(action.clone())
                .header(ORIGIN, self.origin.ascii_serialization())
                .form(&fields);
            reply = self.send(Some(jar), action, request, step).await?;
        }
        Err(Failure::new(step, "too many redirects and pages"))
    }

    /// One complete flow in `jar`'s browser, posting at most `forms` forms.
    async fn flow(&self, jar: &mut Jar, forms: u32) -> Result<(), Failure> {
        let verifier = random(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
        );
        let state = random(16)?;
        let nonce = random(16)?;
        let mut url = self.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.args.client_id)
                .append_pair("redirect_uri", &self.args.redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", &self.args.scope)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(audience) = &self.args.audience {
                q.append_pair(&self.args.audience_param, audience);
            }
        }
        let callback = self.browse(jar, url, forms).await?;
        let params: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
        if let Some(error) = params.get("error") {
            let description = params.get("error_description").map_or("", String::as_str);
            return Err(Failure::new("callback", format!("{error}: {description}")));
        }
        if params.get("state") != Some(&state) {
            return Err(Failure::new("callback", "state does not match"));
        }
        if params.get("iss").is_some_and(|iss| *iss != self.issuer) {
            return Err(Failure::new("callback", "iss does not match"));
        }
        let code = params
            .get("code")
            .ok_or_else(|| Failure::new("callback", "no code"))?;

        let step = "token";
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", self.args.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let request = self
            .http
            .post(self.token_endpoint.clone())
            .header(AUTHORIZATION, &self.basic)
            .form(&form);
        let reply = self
            .send(None, self.token_endpoint.clone(), request, step)
            .await?;
        let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 {
            let error = body["error"].as_str().unwrap_or("no OAuth error");
            return Err(Failure::new(
                step,
                format!("status {}: {error}", reply.status),
            ));
        }
        if !body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(Failure::new(step, "token_type is not Bearer"));
        }
        let id = body["id_token"]
            .as_str()
            .and_then(jwt_claims)
            .ok_or_else(|| Failure::new(step, "no ID token"))?;
        if id["nonce"].as_str() != Some(nonce.as_str())
            || id["iss"].as_str() != Some(self.issuer.as_str())
            || !audience_has(&id, &self.args.client_id)
        {
            return Err(Failure::new(
                step,
                "the ID token's nonce, iss or aud is not this flow's",
            ));
        }
        let access = body["access_token"]
            .as_str()
            .ok_or_else(|| Failure::new(step, "no access token"))?;
        if let Some(audience) = &self.args.audience
            && !jwt_claims(access).is_some_and(|c| audience_has(&c, audience))
        {
            return Err(Failure::new(
                step,
                "the access token is not a JWT for the audience",
            ));
        }
        Ok(())
    }
}

/// What the virtual users share while measuring.
struct Shared {
    driver: Driver,
    started: AtomicU64,
    failed: AtomicU64,
    reasons: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn failed(&self, failure: Failure) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut reasons) = self.reasons.lock() {
            *reasons.entry(failure.0).or_default() += 1;
        }
    }
}

/// Runs flows until the deadline, the flow budget or the failure budget; returns the latencies
/// of completed flows, in microseconds.
async fn virtual_user(shared: Arc<Shared>, mut jar: Jar, deadline: Instant) -> Vec<u32> {
    let args = &shared.driver.args;
    let mut latencies = Vec::new();
    while Instant::now() < deadline
        && shared.failed.load(Ordering::Relaxed) < args.max_failures
        && shared.started.fetch_add(1, Ordering::Relaxed) < args.max_flows
    {
        let t0 = Instant::now();
        let result = match args.scenario {
            Scenario::Sso => shared.driver.flow(&mut jar, 0).await,
            Scenario::SignIn => shared.driver.flow(&mut Jar::default(), SIGN_IN_FORMS).await,
        };
        match result {
            Ok(()) => latencies.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(failure) => shared.failed(failure),
        }
    }
    latencies
}

fn percentile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

async fn run(args: Args, issuer: Url) -> Result<bool, String> {
    let users = args.users;
    let scenario = args.scenario;
    let duration = Duration::from_secs_f64(args.duration);
    println!(
        "flow_load: {scenario} flows against {} ({users} users, {} s, at most {} flows)",
        args.issuer.trim_end_matches('/'),
        args.duration,
        args.max_flows
    );
    let shared = Arc::new(Shared {
        driver: Driver::new(args, issuer).await?,
        started: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        reasons: Mutex::new(BTreeMap::new()),
    });

    // Single sign-on: every virtual user signs in once, before the clock starts.
    let mut jars = Vec::with_capacity(users);
    if scenario == Scenario::Sso {
        let mut setup = tokio::task::JoinSet::new();
        for _ in 0..users {
            let shared = shared.clone();
            setup.spawn(async move {
                let mut jar = Jar::default();
                shared
                    .driver
                    .flow(&mut jar, SIGN_IN_FORMS)
                    .await
                    .map(|()| jar)
            });
        }
        while let Some(joined) = setup.join_next().await {
            let jar = joined
                .map_err(|e| format!("sign-in before the run: {e}"))?
                .map_err(|e| format!("sign-in before the run: {e}"))?;
            jars.push(jar);
        }
    } else {
        jars.resize_with(users, Jar::default);
    }

    let requests_before = shared.driver.requests.load(Ordering::Relaxed);
    let start = Instant::now();
    let deadline = start + duration;
    let mut running = tokio::task::JoinSet::new();
    for jar in jars {
        running.spawn(virtual_user(shared.clone(), jar, deadline));
    }
    let mut latencies = Vec::new();
    while let Some(joined) = running.join_next().await {
        latencies.extend(joined.map_err(|e| format!("a virtual user stopped: {e}"))?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let requests = shared.driver.requests.load(Ordering::Relaxed) - requests_before;

    latencies.sort_unstable();
    let flows = latencies.len();
    let failures = shared.failed.load(Ordering::Relaxed);
    let attempts = flows as f64 + failures as f64;
    println!(
        "flows={flows} failures={failures} elapsed_s={elapsed:.3} flows_per_s={:.1} \
         p50_ms={:.1} p99_ms={:.1} requests_per_flow={:.2}",
        flows as f64 / elapsed,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        if attempts > 0.0 {
            requests as f64 / attempts
        } else {
            0.0
        },
    );
    if let Ok(reasons) = shared.reasons.lock() {
        for (reason, count) in reasons.iter() {
            println!("failed ({count}×): {reason}");
        }
    }
    Ok(failures == 0 && flows > 0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let issuer = match args.check() {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("flow_load: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: bench/load.sh pins the driver to one core anyway.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flow_load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // However the server behaves, the run ends: the duration, plus time for the sign-ins
    // before it and for the flows under way at its end.
    let limit = Duration::from_secs_f64(args.duration + 30.0 + 2.0 * args.request_timeout);
    match runtime.block_on(async { tokio::time::timeout(limit, run(args, issuer)).await }) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(e)) => {
            eprintln!("flow_load: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("flow_load: the run overstayed {} s", limit.as_secs());
            ExitCode::FAILURE
        }
    }
}
