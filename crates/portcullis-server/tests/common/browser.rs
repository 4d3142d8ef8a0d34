//! A minimal browser for driving the hosted pages over HTTP: keeps cookies by hand and
//! follows no redirect by itself.
#![allow(dead_code)]

use portcullis_server::testing::TestIssuer;
use reqwest::redirect::Policy;

/// Something with a base URL: a [`TestIssuer`] or a server's address.
pub trait Base {
    /// The base URL, without a trailing slash.
    fn base(&self) -> &str;
}

impl Base for TestIssuer {
    fn base(&self) -> &str {
        self.url()
    }
}

impl Base for str {
    fn base(&self) -> &str {
        self
    }
}

impl Base for String {
    fn base(&self) -> &str {
        self
    }
}

/// A PKCE pair `(verifier, challenge)` for S256, as the application makes one.
pub fn pkce() -> (String, String) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    (verifier, challenge)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A browser: follows nothing by itself, keeps cookies by hand.
#[derive(Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn hidden(&self, name: &str) -> String {
        self.hidden_after(&format!("name=\"{name}\" value=\""))
    }

    /// The quoted text right after the first `marker` of the page.
    pub fn hidden_after(&self, marker: &str) -> String {
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker}: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    /// The text of the page's `role="alert"` message (panics when there is none).
    pub fn alert(&self) -> String {
        self.body
            .split("role=\"alert\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("no alert: {}", self.body))
            .to_owned()
    }

    pub fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("no redirect: {} {}", self.status, self.body));
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

impl Browser {
    /// The single sign-on session cookie, if this browser holds one.
    pub fn session(&self) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == "pc_session")
            .map(|(_, v)| v.clone())
    }

    /// `GET {issuer}{path}?{params}`.
    pub async fn get(
        &mut self,
        issuer: &(impl Base + ?Sized),
        path: &str,
        params: &[(&str, &str)],
    ) -> Page {
        let url = url::Url::parse_with_params(&format!("{}{path}", issuer.base()), params).unwrap();
        self.send(http().get(url)).await
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends `request` with this browser's cookies. A member of several organizations who
    /// named none is sent to the organization chooser after signing in (tests/choose_org.rs):
    /// this browser then chooses the first one, as a user pressing Continue would, and returns
    /// the chooser's answer. [`Browser::send_raw`] stops at the chooser.
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = request.build().unwrap();
        let mut base = request.url().clone();
        let page = self.send_raw(request).await;
        let Some(location) = page.location.as_deref() else {
            return page;
        };
        let Ok(target) = base.join(location) else {
            return page;
        };
        if page.status != 303 || target.path() != "/oauth2/auth/choose-org" {
            return page;
        }
        // Same server as the request (its issuer URL may name another address).
        base.set_path(target.path());
        base.set_query(target.query());
        let chooser = self
            .send_raw(http().get(base.clone()).build().unwrap())
            .await;
        assert_eq!(chooser.status, 200, "the chooser: {}", chooser.body);
        let first = chooser.hidden_after("name=\"org_code\" value=\"");
        let form = [
            ("interaction", chooser.hidden("interaction")),
            ("csrf", chooser.hidden("csrf")),
            ("org_code", first),
        ];
        base.set_query(None);
        self.send_raw(http().post(base).form(&form).build().unwrap())
            .await
    }

    /// Sends `request` with this browser's cookies and keeps the cookies it sets; follows
    /// nothing.
    pub async fn send_raw(&mut self, mut request: reqwest::Request) -> Page {
        if !self.cookies.is_empty() {
            request.headers_mut().append(
                "cookie",
                reqwest::header::HeaderValue::from_str(&self.cookie_header()).unwrap(),
            );
        }
        let response = http().execute(request).await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() && !set.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
            headers,
        }
    }

    pub async fn authorize(
        &mut self,
        issuer: &(impl Base + ?Sized),
        params: &[(&str, &str)],
    ) -> Page {
        let url =
            url::Url::parse_with_params(&format!("{}/oauth2/auth", issuer.base()), params).unwrap();
        self.send(http().get(url)).await
    }

    /// Submits the hosted form on `form` (its `interaction` and `csrf` fields, then `fields`)
    /// to `path`.
    pub async fn submit(
        &mut self,
        issuer: &(impl Base + ?Sized),
        path: &str,
        form: &Page,
        fields: &[(&str, &str)],
    ) -> Page {
        let mut body = vec![
            ("interaction".to_owned(), form.hidden("interaction")),
            ("csrf".to_owned(), form.hidden("csrf")),
        ];
        body.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.send(http().post(format!("{}{path}", issuer.base())).form(&body))
            .await
    }

    pub async fn sign_in(
        &mut self,
        issuer: &(impl Base + ?Sized),
        form: &Page,
        email: &str,
        password: &str,
    ) -> Page {
        self.submit(
            issuer,
            "/oauth2/auth/sign-in",
            form,
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Submits the sign-up form on `form` with `fields`.
    pub async fn sign_up(
        &mut self,
        issuer: &(impl Base + ?Sized),
        form: &Page,
        fields: &[(&str, &str)],
    ) -> Page {
        self.submit(issuer, "/oauth2/auth/sign-up", form, fields)
            .await
    }
}
