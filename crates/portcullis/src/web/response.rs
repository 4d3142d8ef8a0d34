//! [`WebResponse`]: an answer of this module in framework-free form (status, headers, body),
//! which each framework crate turns into its own response type.

use serde_json::Value;

/// An HTTP answer: status, headers (lower-case names), body. Every answer built here carries
/// `Cache-Control: no-store` (they hold tokens, claims or one-time redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    /// The status code.
    pub status: u16,
    /// The headers, by lower-case name.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON or HTML text, or empty).
    pub body: String,
}

impl WebResponse {
    fn new(status: u16, content_type: Option<&'static str>, body: String) -> Self {
        let mut headers = vec![("cache-control", "no-store".to_owned())];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type.to_owned()));
        }
        WebResponse {
            status,
            headers,
            body,
        }
    }

    /// `body` as JSON.
    pub fn json(status: u16, body: &Value) -> Self {
        WebResponse::new(status, Some("application/json"), body.to_string())
    }

    /// An OAuth-style JSON error: `{"error": code, "error_description": description}`.
    pub fn error(status: u16, code: &str, description: &str) -> Self {
        let body = serde_json::json!({ "error": code, "error_description": description });
        WebResponse::json(status, &body)
    }

    /// The same error as a small HTML page for a browser, every value escaped, that nothing
    /// else may load or frame.
    pub fn error_page(status: u16, code: &str, description: &str) -> Self {
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Sign-in failed</title></head><body><h1>Sign-in failed</h1>\
             <p>{}</p><p><code>{}</code></p><p><a href=\"/\">Home</a></p></body></html>\n",
            escape_html(description),
            escape_html(code)
        );
        WebResponse::new(status, Some("text/html; charset=utf-8"), body)
            .with_header("content-security-policy", "default-src 'none'")
            .with_header("x-content-type-options", "nosniff")
    }

    /// 303 See Other to `to`.
    pub fn redirect(to: &str) -> Self {
        WebResponse::new(303, None, String::new()).with_header("location", to)
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The first value of the header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `value` fit for HTML text and attribute values.
fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_escapes_what_it_shows() {
        let page = WebResponse::error_page(400, "a<b", "<script>alert('x')</script> & \"q\"");
        assert!(!page.body.contains("<script>"));
        assert!(
            page.body
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        );
        assert!(page.body.contains("a&lt;b"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }

    #[test]
    fn redirects_are_303_and_not_cached() {
        let r = WebResponse::redirect("/x");
        assert_eq!((r.status, r.header("location")), (303, Some("/x")));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}
