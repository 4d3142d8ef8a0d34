//! Session, logout, sign-up and connection hardening over real HTTP and raw TCP: session
//! renewal (case 45), logout and account deletion (case 47), `HEAD /logout`, racing sign-ups,
//! request-size limits and slow clients (case 93), bounded password hashing (case 98).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portcullis_server::ids::hash_secret;
use portcullis_server::passwords;
use portcullis_server::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
mod tenant;

use common::browser::{Browser, Page, http, pkce};
use common::demo::{ADA, ADA_PASSWORD, WEB, web_params};
use common::{TestDb, unix_now};
use tenant::{Tenant, start};

const SESSION: &str = "pc_session";

/// Signs Ada in with a fresh browser; returns the browser (holding the session cookie).
async fn signed_in(tenant: &Tenant) -> Browser {
    let mut browser = Browser::default();
    let (_, challenge) = pkce();
    let form = browser
        .authorize(tenant, &web_params(&challenge, "openid", &[]))
        .await;
    let done = browser.sign_in(tenant, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(browser.session().is_some());
    browser
}

/// Whether `cookie` is a live single sign-on session: an authorization request carrying only
/// it gets a code at once instead of the sign-in form.
async fn is_session(tenant: &Tenant, cookie: &str) -> bool {
    let mut browser = Browser {
        cookies: vec![(SESSION.to_owned(), cookie.to_owned())],
    };
    let (_, challenge) = pkce();
    let page = browser
        .authorize(tenant, &web_params(&challenge, "openid", &[]))
        .await;
    match page.status {
        303 => {
            assert!(page.param("code").is_some(), "{:?}", page.location);
            true
        }
        200 => {
            assert!(page.body.contains("name=\"password\""), "{}", page.body);
            false
        }
        other => panic!("unexpected {other}: {}", page.body),
    }
}

#[tokio::test]
async fn case_47_logout_ends_the_session_and_the_old_cookie_is_no_session() {
    let tenant = start(|_| {}).await;

    // GET /logout.
    let mut browser = signed_in(&tenant).await;
    let cookie = browser.session().unwrap();
    assert!(is_session(&tenant, &cookie).await);
    let page = browser
        .send(http().get(format!("{}/logout", tenant.url)))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You have been signed out."));
    assert!(browser.session().is_none(), "the cookie is cleared");
    assert!(
        !is_session(&tenant, &cookie).await,
        "a replayed cookie is no session"
    );
    let stored = tenant
        .store()
        .session(&hash_secret(&cookie), unix_now())
        .await
        .unwrap();
    assert!(stored.is_none(), "the server forgot the session");

    // POST /logout (RP-Initiated Logout §2) with its parameters in the body.
    let mut browser = signed_in(&tenant).await;
    let cookie = browser.session().unwrap();
    let page = browser
        .send(http().post(format!("{}/logout", tenant.url)).form(&[
            ("client_id", WEB),
            ("post_logout_redirect_uri", "http://localhost:3000/"),
            ("state", "bye"),
        ]))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some("http://localhost:3000/?state=bye")
    );
    assert!(!is_session(&tenant, &cookie).await);

    // A POST whose body is not a form still signs out, and says what was wrong.
    let mut browser = signed_in(&tenant).await;
    let cookie = browser.session().unwrap();
    let page = browser
        .send(
            http()
                .post(format!("{}/logout", tenant.url))
                .header("content-type", "application/json")
                .body("{\"client_id\":\"demo-web\"}"),
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none());
    assert!(!is_session(&tenant, &cookie).await);
}

#[tokio::test]
async fn head_logout_signs_nobody_out() {
    let tenant = start(|_| {}).await;
    let browser = signed_in(&tenant).await;
    let cookie = browser.session().unwrap();
    let response = http()
        .head(format!("{}/logout", tenant.url))
        .header("cookie", format!("{SESSION}={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert!(response.headers().get("set-cookie").is_none());
    assert!(
        is_session(&tenant, &cookie).await,
        "HEAD must not end the session"
    );
}

#[tokio::test]
async fn case_45_every_sign_in_renews_the_session_and_ends_the_old_one() {
    let tenant = start(|_| {}).await;
    let mut browser = signed_in(&tenant).await;
    let first = browser.session().unwrap();

    // Re-authentication (prompt=login) in the same browser.
    let (_, challenge) = pkce();
    let form = browser
        .authorize(
            &tenant,
            &web_params(&challenge, "openid", &[("prompt", "login")]),
        )
        .await;
    assert_eq!(form.status, 200);
    let done = browser.sign_in(&tenant, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let second = browser.session().unwrap();
    assert_ne!(first, second, "a sign-in issues a new session id");
    assert!(!is_session(&tenant, &first).await, "the old id is dead");
    assert!(is_session(&tenant, &second).await);

    // A cookie planted before sign-in (fixation): the sign-in never adopts it.
    let planted = "attacker-chosen-session-id-0123456789abcdefgh";
    let mut victim = Browser {
        cookies: vec![(SESSION.to_owned(), planted.to_owned())],
    };
    let form = victim
        .authorize(&tenant, &web_params(&challenge, "openid", &[]))
        .await;
    assert_eq!(form.status, 200);
    let done = victim.sign_in(&tenant, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303);
    assert_ne!(victim.session().as_deref(), Some(planted));
    assert!(!is_session(&tenant, planted).await);
}

#[tokio::test]
async fn case_47_deleting_a_user_ends_their_sessions() {
    let tenant = start(|_| {}).await;
    let (a, b) = (signed_in(&tenant).await, signed_in(&tenant).await);
    let cookies = [a.session().unwrap(), b.session().unwrap()];
    for cookie in &cookies {
        assert!(is_session(&tenant, cookie).await);
    }
    let ada = tenant.ada_id().await;
    assert!(tenant.store().delete_user(&ada, unix_now()).await.unwrap());
    for cookie in &cookies {
        assert!(!is_session(&tenant, cookie).await);
        let stored = tenant
            .store()
            .session(&hash_secret(cookie), unix_now())
            .await
            .unwrap();
        assert!(stored.is_none());
    }
}

// ---- sign-up ----

const GENERIC_REFUSAL: &str = "We could not create an account with these details. Check them, or sign in if you already have an account.";

/// Opens the sign-up form of the web app in a fresh browser.
async fn sign_up_form(tenant: &Tenant) -> (Browser, Page) {
    let mut browser = Browser::default();
    let (_, challenge) = pkce();
    let form = browser
        .authorize(
            tenant,
            &web_params(&challenge, "openid", &[("prompt", "create")]),
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"given_name\""), "{}", form.body);
    (browser, form)
}

async fn submit_sign_up(
    url: &str,
    browser: &mut Browser,
    form: &Page,
    email: &str,
    password: &str,
    given_name: &str,
) -> Page {
    browser
        .sign_up(
            url,
            form,
            &[
                ("email", email),
                ("password", password),
                ("given_name", given_name),
                ("family_name", "Racer"),
            ],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sign_ups_create_one_account_and_never_update_it() {
    let tenant = start(|_| {}).await;
    const RACERS: usize = 4;
    let email = "race@example.com";
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (mut browser, form) = sign_up_form(&tenant).await;
        let url = tenant.url.clone();
        tasks.push(tokio::spawn(async move {
            let page = submit_sign_up(
                &url,
                &mut browser,
                &form,
                email,
                &format!("password-of-racer-{i}"),
                &format!("Racer{i}"),
            )
            .await;
            (i, page)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, page) = task.await.unwrap();
        match page.status {
            303 => winners.push(i),
            200 => assert_eq!(page.alert(), GENERIC_REFUSAL, "racer {i}"),
            other => panic!("racer {i}: {other} {}", page.body),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one sign-up creates the account");
    let winner = winners[0];
    let user = tenant.store().user_by_email(email).await.unwrap().unwrap();
    assert_eq!(user.given_name, Some(format!("Racer{winner}")));
    let hash = user.password_hash.clone().unwrap();
    assert!(
        passwords::verify(&format!("password-of-racer-{winner}"), Some(&hash))
            .await
            .unwrap()
    );

    // A later sign-up with the taken email and other details changes nothing either.
    let (mut browser, form) = sign_up_form(&tenant).await;
    let page = submit_sign_up(
        &tenant.url,
        &mut browser,
        &form,
        "RACE@example.com",
        "another-long-password",
        "Mallory",
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.alert(), GENERIC_REFUSAL);
    assert_eq!(
        tenant.store().user_by_email(email).await.unwrap().unwrap(),
        user
    );
}

async fn create_user_is_insert_only(store: &Store) {
    store.migrate().await.unwrap();
    assert!(
        store
            .create_user(
                "kp_first",
                "Grace@Example.com",
                Some("Grace"),
                None,
                Some("h1"),
                1
            )
            .await
            .unwrap()
    );
    let before = store
        .user_by_email("grace@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.id, "kp_first");
    let again = store
        .create_user(
            "kp_second",
            " GRACE@example.com ",
            Some("Mallory"),
            Some("M"),
            Some("h2"),
            2,
        )
        .await
        .unwrap();
    assert!(!again, "a taken email is refused");
    let after = store
        .user_by_email("grace@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "and the existing account is untouched");
    assert!(store.user_by_id("kp_second").await.unwrap().is_none());
}

#[tokio::test]
async fn create_user_is_insert_only_sqlite() {
    create_user_is_insert_only(&Store::connect("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn create_user_is_insert_only_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    create_user_is_insert_only(&Store::connect(&db.url).await.unwrap()).await;
    db.cleanup().await;
}

// ---- case 93: limits on the request head, over raw TCP ----

/// Sends `request` on a new connection and reads until the server closes it (or 10 s pass).
async fn raw(tenant: &Tenant, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(tenant.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test]
async fn case_93_long_request_targets_are_414() {
    let tenant = start(|_| {}).await;
    for len in [9 * 1024, 100 * 1024] {
        let request = format!(
            "GET /oauth2/auth?client_id={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(len)
        );
        let answer = raw(&tenant, request.as_bytes()).await;
        assert_eq!(status_line(&answer), "HTTP/1.1 414 URI Too Long", "{len}");
    }
    // Just under the limit is served.
    let request = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(7 * 1024)
    );
    let answer = raw(&tenant, request.as_bytes()).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn case_93_large_or_many_headers_are_431() {
    let tenant = start(|_| {}).await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(20 * 1024)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    for request in [big, many] {
        let answer = raw(&tenant, request.as_bytes()).await;
        assert_eq!(
            status_line(&answer),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }
}

#[tokio::test]
async fn case_93_ambiguous_framing_is_refused_or_never_smuggles() {
    let tenant = start(|_| {}).await;
    // Two different lengths, or an encoding that is not chunked: 400.
    for framing in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Transfer-Encoding: gzip\r\n",
    ] {
        let request = format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n{framing}Connection: close\r\n\r\nhello!"
        );
        let answer = raw(&tenant, request.as_bytes()).await;
        assert_eq!(
            status_line(&answer),
            "HTTP/1.1 400 Bad Request",
            "{framing:?}"
        );
    }
    // Content-Length with Transfer-Encoding: chunked wins and the connection closes after the
    // answer (RFC 9112 §6.1), so a request hidden behind the body is never served.
    let request = "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\
                   Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
                   GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = raw(&tenant, request.as_bytes()).await;
    assert_eq!(
        answer.matches("HTTP/1.1 ").count(),
        1,
        "one request, one answer: {answer}"
    );
    assert!(status_line(&answer).starts_with("HTTP/1.1 400"), "{answer}");
}

/// Whether the server closed `stream` (end of stream or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "the server answered a request it never got: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => false,
    }
}

#[tokio::test]
async fn case_93_slow_drip_headers_do_not_hold_the_server() {
    let tenant = start(|s| s.header_read_timeout = Duration::from_secs(1)).await;

    // A client sending its headers one byte at a time, 4 bytes a second: 40 bytes would take
    // 10 s; the server closes the connection long before.
    let mut stream = TcpStream::connect(tenant.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        .await
        .unwrap();
    let mut closed = false;
    for _ in 0..40 {
        if stream.write_all(b"a").await.is_err()
            || closed_within(&mut stream, Duration::from_millis(250)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a dripping client held its connection for 10 s");

    // A connection that sends nothing is closed too.
    let mut idle = TcpStream::connect(tenant.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)).await,
        "an idle connection was kept open"
    );

    // Meanwhile, and afterwards, normal requests are served.
    let answer = raw(
        &tenant,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
}

/// Sends the head of a token request announcing a body of `length` bytes, waits until the
/// handler reads the body (the server's `100 Continue`), and sends `start` of it.
async fn start_token_request(tenant: &Tenant, length: usize, start: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(tenant.addr).await.unwrap();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(1))), "no 100 Continue: {interim:?}");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue\r\n"),
        "{interim:?}"
    );
    stream.write_all(start).await.unwrap();
    stream
}

/// Everything the server sends on `stream` until it closes it (at most `wait`).
async fn read_answer(stream: &mut TcpStream, wait: Duration) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn case_93_slow_drip_body_is_cut_off_while_others_are_served() {
    let tenant = start(|s| s.body_read_timeout = Duration::from_millis(500)).await;

    // A token request whose 100-byte body comes one byte every 100 ms: it would take 10 s.
    let mut stream = start_token_request(&tenant, 100, b"grant_type=").await;
    let started = std::time::Instant::now();
    let mut cut_off = false;
    for i in 0..40 {
        if stream.write_all(b"a").await.is_err() {
            cut_off = true;
            break;
        }
        let mut first = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(100), stream.peek(&mut first)).await {
            Ok(_) => {
                cut_off = true;
                break;
            }
            Err(_) if i == 2 => {
                // Meanwhile a normal request on another connection is served.
                let answer = raw(
                    &tenant,
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
                .await;
                assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
            }
            Err(_) => {}
        }
    }
    assert!(cut_off, "a dripping body was read for 4 s");
    assert!(started.elapsed() < Duration::from_secs(4));
    // Answered 408 and closed (or, had the answer been lost, closed).
    let answer = read_answer(&mut stream, Duration::from_secs(10)).await;
    if !answer.is_empty() {
        assert!(status_line(&answer).starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    let metrics = http()
        .get(format!("{}/metrics", tenant.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains(r#"route="/oauth2/token""#) && l.contains(r#"status="4xx""#)),
        "the refusal is counted: {metrics}"
    );
}

#[tokio::test]
async fn case_93_shutdown_finishes_requests_in_flight_and_closes_a_dripping_one() {
    // Only the shutdown timeout can end the dripping request here.
    let mut tenant = start(|s| {
        s.body_read_timeout = Duration::from_secs(60);
        s.shutdown_timeout = Duration::from_secs(2);
    })
    .await;

    // A client dripping a 1000-byte body, one byte every 100 ms, until its connection closes.
    let mut dripping = start_token_request(&tenant, 1000, b"grant_type=").await;
    let (mut drip_read, mut drip_write) = dripping.split();
    // A normal request, half sent when the shutdown comes.
    let body = b"grant_type=no_such_grant";
    let mut normal = start_token_request(&tenant, body.len(), &body[..10]).await;
    // Both are in flight: their handlers are reading their bodies.
    let signalled = std::time::Instant::now();
    let server = tenant.shut_down();
    let drip = async {
        while drip_write.write_all(b"a").await.is_ok() {
            let mut buf = [0u8; 256];
            let read = tokio::time::timeout(Duration::from_millis(100), drip_read.read(&mut buf));
            if let Ok(Ok(0) | Err(_)) = read.await {
                return;
            }
        }
    };
    let rest = async {
        // Once the server no longer accepts connections it is draining: the normal request
        // sends the rest of its body and gets its answer.
        while TcpStream::connect(tenant.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        normal.write_all(&body[10..]).await.unwrap();
        read_answer(&mut normal, Duration::from_secs(10)).await
    };
    let returned = async {
        let result = tokio::time::timeout(Duration::from_secs(15), server).await;
        assert!(
            result.is_ok(),
            "run did not return 15 s after the shutdown signal"
        );
        result.unwrap().unwrap().unwrap();
        signalled.elapsed()
    };
    let ((), answer, took) = tokio::join!(drip, rest, returned);
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 400"),
        "the request in flight is answered during the drain: {answer}"
    );
    assert!(answer.contains("unsupported_grant_type"), "{answer}");
    // Returned after the drain time (the dripping client held on until then), not much later.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

// ---- case 98: bounded password hashing ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_98_concurrent_sign_ins_are_bounded_and_the_server_stays_responsive() {
    const SIGN_INS: usize = 20;
    let tenant = start(|_| {}).await;
    let started_before = passwords::load().started;

    // Twenty browsers each hold an open sign-in form; then all submit at once.
    let mut ready = Vec::new();
    for _ in 0..SIGN_INS {
        let mut browser = Browser::default();
        let (_, challenge) = pkce();
        let form = browser
            .authorize(&tenant, &web_params(&challenge, "openid", &[]))
            .await;
        assert_eq!(form.status, 200);
        ready.push((browser, form));
    }
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (mut browser, form) in ready {
        let url = tenant.url.clone();
        let finished = finished.clone();
        tasks.push(tokio::spawn(async move {
            let page = browser.sign_in(&url, &form, ADA, ADA_PASSWORD).await;
            finished.fetch_add(1, Ordering::SeqCst);
            page.status
        }));
    }

    // Wait (on the hasher's own counter) until sign-ins are queued behind the limit…
    loop {
        let load = passwords::load();
        assert!(load.running <= passwords::MAX_CONCURRENT_HASHES, "{load:?}");
        if load.waiting > 0 {
            break;
        }
        assert!(
            finished.load(Ordering::SeqCst) < SIGN_INS,
            "all sign-ins finished without ever queueing"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // …and while they are, other endpoints answer.
    for path in ["/healthz", "/.well-known/openid-configuration"] {
        let response = http()
            .get(format!("{}{path}", tenant.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    assert!(
        finished.load(Ordering::SeqCst) < SIGN_INS,
        "the health check had to wait for every queued sign-in"
    );

    for task in tasks {
        assert_eq!(task.await.unwrap(), 303);
    }
    let load = passwords::load();
    assert!(
        load.peak_running <= passwords::MAX_CONCURRENT_HASHES,
        "{load:?}: more hashes ran at once than the limit"
    );
    assert!(load.started >= started_before + SIGN_INS, "{load:?}");
}
