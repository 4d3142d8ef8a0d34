//! Test support: the shared suite's tenant and HTTP helpers (`portcullis-web-tests`), and an
//! axum app served on 127.0.0.1:0.
#![allow(dead_code, unused_imports)]

use axum::Router;
pub use portcullis_web_tests::*;

/// Serves `app` on 127.0.0.1:0 and returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}
