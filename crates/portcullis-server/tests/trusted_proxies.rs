//! The client address behind reverse proxies (`Settings::trusted_proxies`): failed client
//! authentications are counted per forwarded client address when the peer is a trusted proxy,
//! and per peer otherwise, whatever forwarding headers it sends.

use portcullis_server::limits::PER_CLIENT;
use portcullis_server::proxies::{ProxyHeader, TrustedProxies};

mod common;
mod tenant;

use common::demo::API;
use tenant::{Tenant, start};

const JOB: &str = "report-job";
const JOB_SECRET: &str = "replace-me-with-32-random-bytes-in-base64";

/// A `client_credentials` request as `JOB` with `secret`, through a proxy that sends `header`.
async fn token(tenant: &Tenant, secret: &str, header: Option<(&str, &str)>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", tenant.url))
        .basic_auth(JOB, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("audience", API)]);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Fails `PER_CLIENT` authentications as the client at `xff`; the next one is 429.
async fn lock_out(tenant: &Tenant, header: &str, value: &str) {
    for n in 0..PER_CLIENT {
        let status = token(tenant, &format!("guess-{n}"), Some((header, value))).await;
        assert_eq!(status, 401, "attempt {n} from {value}");
    }
    assert_eq!(
        token(tenant, JOB_SECRET, Some((header, value))).await,
        429,
        "{value} is over the limit"
    );
}

#[tokio::test]
async fn a_trusted_proxys_clients_are_limited_one_by_one() {
    common::clear_of_a_window_end(20).await;
    // The test's requests come from 127.0.0.1: here, the proxy.
    let tenant = start(|s| s.trusted_proxies = "127.0.0.0/8, ::1".parse().unwrap()).await;
    let xff = "x-forwarded-for";
    lock_out(&tenant, xff, "198.51.100.1").await;

    // Another user behind the same proxy is not locked out.
    assert_eq!(
        token(&tenant, JOB_SECRET, Some((xff, "198.51.100.2"))).await,
        200
    );
    // The locked-out client cannot dodge the limit with a spoofed left-most entry: the proxy
    // appended its real address, and that is the one counted.
    for spoofed in [
        "203.0.113.77, 198.51.100.1",
        "127.0.0.1, 198.51.100.1",
        "garbage, 198.51.100.1",
        "198.51.100.2, 198.51.100.1, 127.0.0.1",
    ] {
        assert_eq!(
            token(&tenant, JOB_SECRET, Some((xff, spoofed))).await,
            429,
            "{spoofed}"
        );
    }
    // Two header lines are one list.
    let status = reqwest::Client::new()
        .post(format!("{}/oauth2/token", tenant.url))
        .basic_auth(JOB, Some(JOB_SECRET))
        .header(xff, "203.0.113.77")
        .header(xff, "198.51.100.1")
        .form(&[("grant_type", "client_credentials"), ("audience", API)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 429);
    // `Forwarded` is not the configured header: it is ignored, so this is the proxy itself.
    assert_eq!(
        token(&tenant, JOB_SECRET, Some(("forwarded", "for=198.51.100.3"))).await,
        200
    );
}

#[tokio::test]
async fn a_proxy_writing_forwarded() {
    common::clear_of_a_window_end(20).await;
    let tenant = start(|s| {
        s.trusted_proxies = "127.0.0.1"
            .parse::<TrustedProxies>()
            .unwrap()
            .header(ProxyHeader::Forwarded);
    })
    .await;
    lock_out(
        &tenant,
        "forwarded",
        "for=\"198.51.100.1:4711\";proto=https",
    )
    .await;
    assert_eq!(
        token(&tenant, JOB_SECRET, Some(("forwarded", "for=198.51.100.2"))).await,
        200
    );
    assert_eq!(
        token(
            &tenant,
            JOB_SECRET,
            Some(("forwarded", "for=198.51.100.2, for=198.51.100.1"))
        )
        .await,
        429
    );
    // X-Forwarded-For is not read here.
    assert_eq!(
        token(
            &tenant,
            JOB_SECRET,
            Some(("x-forwarded-for", "198.51.100.1"))
        )
        .await,
        200
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    common::clear_of_a_window_end(20).await;
    // A proxy is trusted, but not the test's address.
    let tenant = start(|s| s.trusted_proxies = "10.0.0.0/8".parse().unwrap()).await;
    // Each failure claims another address; all of them count against the peer.
    for n in 0..PER_CLIENT {
        let claimed = format!("198.51.100.{n}");
        let status = token(&tenant, "wrong", Some(("x-forwarded-for", &claimed))).await;
        assert_eq!(status, 401, "attempt {n}");
    }
    assert_eq!(
        token(
            &tenant,
            JOB_SECRET,
            Some(("x-forwarded-for", "203.0.113.1"))
        )
        .await,
        429
    );
    // And by default no proxy is trusted at all.
    let default = start(|_| {}).await;
    for n in 0..PER_CLIENT {
        let claimed = format!("198.51.100.{n}");
        assert_eq!(
            token(&default, "wrong", Some(("x-forwarded-for", &claimed))).await,
            401
        );
    }
    assert_eq!(token(&default, JOB_SECRET, None).await, 429);
}
