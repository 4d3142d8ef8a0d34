//! The HTTP/1.1 serve loop. `axum::serve` cannot bound how long a client may take to send its
//! headers, so the server drives hyper itself: with the limits below (docs/security.md case 93), the
//! caller's address for handlers ([`axum::extract::ConnectInfo`]), and graceful shutdown.
//!
//! Limits on a request, before any handler runs:
//! - The request target (path and query) longer than [`MAX_URI_BYTES`] (8 KiB):
//!   `414 URI Too Long`.
//! - Header fields over [`MAX_HEADER_BYTES`] (16 KiB, names and values together), or more than
//!   100 of them: `431 Request Header Fields Too Large`.
//! - A request head that does not fit [`MAX_HEAD_BYTES`] (128 KiB) is not buffered further:
//!   the HTTP parser answers `414` when the target alone is over 64 KiB, `431` otherwise, and
//!   closes the connection.
//! - The request line and headers must arrive within
//!   [`Settings::header_read_timeout`](crate::Settings::header_read_timeout) (default 10 s) of
//!   the server starting to wait for them; otherwise the connection is closed without an
//!   answer. The same bound closes idle keep-alive connections, so a client dripping one byte a
//!   second, or holding idle connections open, cannot hold them forever.
//! - Bodies are limited by the router (64 KiB, `413`), and malformed requests (conflicting
//!   `Content-Length` and `Transfer-Encoding`, bad header syntax) are refused by the parser
//!   with `400`.
//! - The whole body must arrive within
//!   [`Settings::body_read_timeout`](crate::Settings::body_read_timeout) (default 20 s) of the
//!   handler starting to read it ([`bound_body_read`], a layer of the router): a slower body is
//!   answered `408 Request Timeout` and its connection closed.
//!
//! With TLS ([`crate::tls`]), the handshake must also finish within the header read timeout,
//! and HTTP/2 is served when the client asks for it by ALPN (else HTTP/1.1, with the limits
//! above). HTTP/2 gets the same bounds on headers (the parser's list limit and the checks
//! above, per request) and the same idle rule: a connection with no request in flight for a
//! header read timeout is sent GOAWAY and closed.
//!
//! On shutdown the listener is closed, idle connections are closed, and requests in flight get
//! [`Settings::shutdown_timeout`](crate::Settings::shutdown_timeout) (default 25 s) to finish;
//! the connections still open then are closed, so no client can hold a shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// Longest request target (path and query) answered, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most bytes of a request head (request line and headers) the parser buffers.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in flight for up to `shutdown_timeout`, closes the connections
/// still open after that, and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(
                        stream,
                        peer,
                        app.clone(),
                        header_read_timeout,
                        stopping.clone(),
                        tls.clone(),
                    ));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tracing::error!(error = %e, "cannot accept connections");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            shutdown_timeout_s = shutdown_timeout.as_secs_f64(),
            "requests still in flight at the end of the shutdown timeout: closing their connections"
        );
        // Dropping a connection's task closes its socket.
        connections.shutdown().await;
    }
    Ok(())
}

/// Errors of one connection that was being accepted, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    stopping: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    // Small answers: send them at once.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move {
            if let Some(refusal) = refuse_oversized(&request) {
                return Ok::<_, Infallible>(refusal);
            }
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            app.oneshot(request).await
        }
    });
    let Some(tls) = tls else {
        let conn = http1(header_read_timeout).serve_connection(TokioIo::new(stream), service);
        return drive(conn, stopping).await;
    };
    // The handshake is bounded like a request head: a client cannot hold a connection open
    // by never finishing it.
    let stream = match tokio::time::timeout(header_read_timeout, tls.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake not finished in time");
            return;
        }
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        let idle = Arc::new(Activity::default());
        let counted = {
            let idle = idle.clone();
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let started = idle.start();
                let response = hyper::service::Service::call(&service, request);
                async move {
                    let response = response.await;
                    drop(started);
                    response
                }
            })
        };
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD_BYTES as u32)
            .max_concurrent_streams(100);
        let conn = builder.serve_connection(TokioIo::new(stream), counted);
        drive_closing_idle(conn, stopping, idle, header_read_timeout).await;
    } else {
        let conn = http1(header_read_timeout).serve_connection(TokioIo::new(stream), service);
        drive(conn, stopping).await;
    }
}

/// The HTTP/1.1 connection settings: the head's time and size bounds.
fn http1(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
}

/// Runs a connection to its end, shutting it down gracefully when `stopping` turns true.
async fn drive<C>(conn: C, stopping: watch::Receiver<bool>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    drive_closing_idle(conn, stopping, Arc::new(Activity::default()), Duration::MAX).await;
}

/// [`drive`], also shutting the connection down once no request has been in flight for a
/// whole `idle` period (HTTP/2, which has no header read timeout of its own); a client that
/// does not let it close (HTTP/2 waits for the client to acknowledge the GOAWAY) is cut off
/// one more `idle` period later.
async fn drive_closing_idle<C>(
    conn: C,
    mut stopping: watch::Receiver<bool>,
    activity: Arc<Activity>,
    idle: Duration,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let mut shutting_down = false;
    let mut closing_idle = false;
    let mut seen = activity.started();
    let check_every = idle.min(Duration::from_secs(365 * 86_400));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    // Timeouts, resets and malformed requests: the client's doing, not ours.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stopping.changed(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if !shutting_down || closing_idle => {
                if closing_idle {
                    tracing::debug!("closing an idle connection that did not close");
                    break;
                }
                let started = activity.started();
                if started == seen && activity.in_flight() == 0 {
                    tracing::debug!("closing an idle connection");
                    shutting_down = true;
                    closing_idle = true;
                    conn.as_mut().graceful_shutdown();
                }
                seen = started;
            }
        }
    }
}

/// Requests started on a connection, and those still in flight.
#[derive(Default)]
struct Activity {
    started: std::sync::atomic::AtomicU64,
    in_flight: std::sync::atomic::AtomicUsize,
}

impl Activity {
    fn start(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One request in flight; counted down when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `414` or `431` for a request whose target or headers exceed the limits.
fn refuse_oversized<B>(request: &Request<B>) -> Option<Response> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    let (status, message) = if target > MAX_URI_BYTES {
        (StatusCode::URI_TOO_LONG, "the request URI is too long\n")
    } else if request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum::<usize>()
        > MAX_HEADER_BYTES
    {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request headers are too large\n",
        )
    } else {
        return None;
    };
    tracing::debug!(status = status.as_u16(), "oversized request refused");
    Some(closing(status, message))
}

/// A plain-text refusal, never cached, after which the connection is closed.
fn closing(status: StatusCode, message: &'static str) -> Response {
    let mut response = (status, message).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Middleware bounding the time a handler takes to read the request body to `limit`, counted
/// from its first read: a body that has not fully arrived by then fails the read (the handler
/// sees a body error), and the request is answered `408 Request Timeout` with the connection
/// closed, whatever the handler made of the error. Requests without a body pass untouched.
pub(crate) async fn bound_body_read(
    State(limit): State<Duration>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    let late = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(BoundedBody {
            inner: body,
            limit,
            deadline: None,
            late: late.clone(),
        })
    });
    let response = next.run(request).await;
    if late.load(Ordering::Relaxed) {
        tracing::debug!(
            body_read_timeout_s = limit.as_secs_f64(),
            "request body not received in time"
        );
        return closing(
            StatusCode::REQUEST_TIMEOUT,
            "the request body was not received in time\n",
        );
    }
    response
}

/// The error of a body read that ran out of time (see [`bound_body_read`]).
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub(crate) struct BodyReadTimeout(Duration);

/// A request body that must be read within `limit` of its first read.
struct BoundedBody {
    inner: Body,
    limit: Duration,
    /// Set at the first read.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the deadline passed before the body's end.
    late: Arc<AtomicBool>,
}

impl hyper::body::Body for BoundedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // Every field is `Unpin`.
        let this = self.get_mut();
        if this.inner.is_end_stream() {
            return Pin::new(&mut this.inner).poll_frame(cx);
        }
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        // The deadline first: a client that keeps sending must still finish in time.
        if deadline.as_mut().poll(cx).is_ready() {
            this.late.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(limit)))));
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_on_the_target_and_headers() {
        let ok = Request::builder()
            .uri(format!("/x?{}", "a".repeat(MAX_URI_BYTES - 3)))
            .header("x-a", "b".repeat(MAX_HEADER_BYTES - 3))
            .body(())
            .unwrap();
        assert!(refuse_oversized(&ok).is_none());
        let long = Request::builder()
            .uri(format!("/x?{}", "a".repeat(MAX_URI_BYTES)))
            .body(())
            .unwrap();
        assert_eq!(
            refuse_oversized(&long).map(|r| r.status()),
            Some(StatusCode::URI_TOO_LONG)
        );
        let mut heavy = Request::builder().uri("/");
        for i in 0..20 {
            heavy = heavy.header(format!("x-{i}"), "b".repeat(1024));
        }
        assert_eq!(
            refuse_oversized(&heavy.body(()).unwrap()).map(|r| r.status()),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
    }
}
