//! Test support: the shared suite's tenant and HTTP helpers (`portcullis-web-tests`), and an
//! actix-web app served on 127.0.0.1:0.
#![allow(dead_code, unused_imports, unused_macros)]

pub use portcullis_web_tests::*;

/// Serves the app factory on 127.0.0.1:0 (a real actix-web server, two workers) and returns
/// its base URL.
macro_rules! serve {
    ($factory:expr) => {{
        let server = actix_web::HttpServer::new($factory)
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        format!("http://{addr}")
    }};
}

pub(crate) use serve;
