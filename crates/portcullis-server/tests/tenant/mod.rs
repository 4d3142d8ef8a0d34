//! The example tenant (`examples/tenant.toml`) on a real server with settings of the test's
//! choosing (lifetimes, timeouts). Shared by the hardening tests; the code flow against it is in
//! `common::demo`.
#![allow(dead_code)]

use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};
use serde_json::Value;

use crate::common::browser::Base;
use crate::common::demo::{ADA, WEB, WEB_SECRET, demo_seed, exchange};

/// A running server with the example tenant; stops when dropped.
pub struct Tenant {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Base for Tenant {
    fn base(&self) -> &str {
        &self.url
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Tenant {
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Sends the shutdown signal; the task returned ends when `run` returns.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("the server is shut down once")
    }

    /// Ada's user id.
    pub async fn ada_id(&self) -> String {
        self.store().user_by_email(ADA).await.unwrap().unwrap().id
    }
}

/// The tenant on in-memory SQLite, with `configure` applied to the default settings.
pub async fn start(configure: impl FnOnce(&mut Settings)) -> Tenant {
    start_on("sqlite::memory:", configure).await
}

/// The tenant on the database at `url`.
pub async fn start_on(url: &str, configure: impl FnOnce(&mut Settings)) -> Tenant {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url_base = format!("http://{addr}");
    let mut settings = Settings::new(&url_base);
    configure(&mut settings);
    let state = AppState::new(Store::connect(url).await.unwrap(), settings)
        .await
        .unwrap();
    demo_seed().apply(state.store()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(portcullis_server::run(
        listener,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Tenant {
        url: url_base,
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Refreshes as the web app, with `scope` when given.
pub async fn refresh(tenant: &Tenant, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    exchange(tenant, Some((WEB, WEB_SECRET)), &form).await
}
