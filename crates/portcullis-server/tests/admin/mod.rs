//! The management API under test: a real server (`TestIssuer`) on SQLite or PostgreSQL, a
//! management application with every scope, and a small JSON client. Each `management_*`
//! test file runs its cases on both databases with [`on_both`].
#![allow(dead_code)]

use portcullis_server::testing::{TestIssuer, TestIssuerBuilder};
use serde_json::Value;

use crate::common::TestDb;

/// The management application's client id.
pub const ADMIN_ID: &str = "admin-m2m";
/// Its secret.
pub const ADMIN_SECRET: &str = "admin-secret-admin-secret-admin-secret-0123";

/// A running server and a token with every management scope.
pub struct Admin {
    pub issuer: TestIssuer,
    pub token: String,
    pub http: reqwest::Client,
    db: Option<TestDb>,
}

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The first error code of an error body.
    pub fn error_code(&self) -> &str {
        self.body["errors"][0]["code"]
            .as_str()
            .or_else(|| self.body["errors"]["code"].as_str())
            .unwrap_or("")
    }
}

impl Admin {
    /// Starts a server with `builder` (plus the management application) on `db`.
    pub async fn start(db: TestDb, builder: TestIssuerBuilder) -> Admin {
        let issuer = builder
            .management_app(ADMIN_ID, ADMIN_SECRET, &["*"])
            .database_url(db.url.clone())
            .start()
            .await
            .expect("test issuer starts");
        let token = issuer
            .management_token(ADMIN_ID, ADMIN_SECRET, None)
            .await
            .expect("management token");
        Admin {
            issuer,
            token,
            http: reqwest::Client::new(),
            db: Some(db),
        }
    }

    /// Sends `method path` (relative to `/api/v1`) with the admin token and an optional JSON
    /// body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(&self.token, method, path, body).await
    }

    /// Like [`Admin::call`] with another token.
    pub async fn call_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.issuer.url()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call("PATCH", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None).await
    }

    /// Stops the server and drops the PostgreSQL schema.
    pub async fn finish(mut self) {
        self.issuer.shutdown().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}

/// Runs `case` on SQLite, then on PostgreSQL (when configured; required under CI).
pub async fn on_both<F, Fut>(case: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(TestDb::sqlite()).await;
    if let Some(db) = TestDb::postgres().await {
        case(db).await;
    }
}
