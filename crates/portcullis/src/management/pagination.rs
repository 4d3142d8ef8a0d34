//! Pages of a list operation (`page_size` + `next_token` in, `next_token` out) and a `Stream` over
//! all of them.

use std::collections::{HashSet, VecDeque};
use std::future::Ready;

use futures_core::Stream;
use futures_util::future::Either;
use futures_util::stream::Once;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Call, ManagementClient, ManagementError};

/// The largest `page_size` the API accepts.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Which page of a list to get: its size (default 10 on the server, at most
/// [`MAX_PAGE_SIZE`]) and the `next_token` of the page before (none for the first page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRequest {
    /// Items per page; the server's default (10) when `None`.
    pub page_size: Option<u32>,
    /// The `next_token` of the previous page.
    pub next_token: Option<String>,
    /// The sort order where the operation has one (e.g. `name_asc`, `name_desc`,
    /// `email_asc`); the server's default when `None`.
    pub sort: Option<String>,
}

impl PageRequest {
    /// The first page, of the server's default size.
    pub fn new() -> Self {
        PageRequest::default()
    }

    /// The first page, of `page_size` items.
    pub fn of_size(page_size: u32) -> Self {
        PageRequest {
            page_size: Some(page_size),
            ..PageRequest::default()
        }
    }

    /// Sets the page size.
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// Continues after the page that gave this `next_token`.
    #[must_use]
    pub fn next_token(mut self, token: impl Into<String>) -> Self {
        self.next_token = Some(token.into());
        self
    }

    /// Sets the sort order.
    #[must_use]
    pub fn sort(mut self, sort: impl Into<String>) -> Self {
        self.sort = Some(sort.into());
        self
    }

    /// The same request from the first page: a stream starts there, whatever token it was
    /// given.
    pub(crate) fn first(self) -> PageRequest {
        PageRequest {
            next_token: None,
            ..self
        }
    }

    pub(crate) fn apply(&self, call: Call) -> Result<Call, ManagementError> {
        if let Some(size) = self.page_size
            && !(1..=MAX_PAGE_SIZE).contains(&size)
        {
            return Err(ManagementError::invalid_argument(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}, not {size}"),
            ));
        }
        Ok(call
            .query_opt("page_size", self.page_size)
            .query_opt("sort", self.sort.as_deref())
            .query_opt("next_token", self.next_token.as_deref()))
    }
}

impl From<u32> for PageRequest {
    /// The first page of `page_size` items.
    fn from(page_size: u32) -> Self {
        PageRequest::of_size(page_size)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The token of the next page; `None` on the last page.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// Whether there is a page after this one.
    pub fn has_more(&self) -> bool {
        self.next_token.is_some()
    }

    /// The request for the next page (same size and order), if there is one.
    pub fn next_request(&self, previous: &PageRequest) -> Option<PageRequest> {
        self.next_token.as_ref().map(|t| PageRequest {
            next_token: Some(t.clone()),
            ..previous.clone()
        })
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Reads a page from a response body: the list under `key` (absent or `null`: empty) and
/// `next_token` (absent, `null` or empty: last page).
pub(crate) fn parse_page<T: DeserializeOwned>(
    mut body: Map<String, Value>,
    key: &str,
) -> Result<Page<T>, String> {
    let items = match body.remove(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("{key}: {e}"))?,
    };
    let next_token = match body.remove("next_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("next_token is not a string: {other}")),
    };
    Ok(Page { items, next_token })
}

struct State<T> {
    client: ManagementClient,
    call: Call,
    key: &'static str,
    buffer: VecDeque<T>,
    next_token: Option<String>,
    seen: HashSet<String>,
    done: bool,
    failed: Option<ManagementError>,
}

/// Every item of a list, page after page. `call` is the first page's request (with any
/// `page_size` and filters, and no `next_token`). A server that hands out a `next_token` it
/// gave before would loop forever: the stream ends with an error instead.
pub(crate) fn paginate<T>(
    client: ManagementClient,
    call: Call,
    key: &'static str,
) -> impl Stream<Item = Result<T, ManagementError>> + Send + use<T>
where
    T: DeserializeOwned + Send + 'static,
{
    let state = State {
        client,
        call,
        key,
        buffer: VecDeque::new(),
        next_token: None,
        seen: HashSet::new(),
        done: false,
        failed: None,
    };
    futures_util::stream::try_unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.buffer.pop_front() {
                return Ok(Some((item, s)));
            }
            if let Some(error) = s.failed.take() {
                return Err(error);
            }
            if s.done {
                return Ok(None);
            }
            let call = s
                .call
                .clone()
                .query_opt("next_token", s.next_token.as_deref());
            let (page, path, status) = s.client.page_with_path::<T>(call, s.key).await?;
            match page.next_token {
                Some(token) if !s.seen.insert(token.clone()) => {
                    // This page's items are fine; the error comes after them.
                    s.failed = Some(ManagementError::InvalidResponse {
                        method: "GET",
                        path,
                        status,
                        message: "next_token repeats an earlier page's token".to_owned(),
                        request_id: None,
                    });
                }
                Some(token) => s.next_token = Some(token),
                None => s.done = true,
            }
            s.buffer.extend(page.items);
        }
    })
}

impl ManagementClient {
    /// The first-page request of the list at `segments` (`GET`), with `page`'s size and order.
    pub(crate) fn list_call(
        &self,
        segments: &[&str],
        page: &PageRequest,
    ) -> Result<Call, ManagementError> {
        page.apply(self.call(reqwest::Method::GET, segments)?)
    }

    /// One page of the list at `segments`, its items under `key`.
    pub(crate) async fn list_page<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        page: PageRequest,
        key: &'static str,
    ) -> Result<Page<T>, ManagementError> {
        let call = self.list_call(segments, &page)?;
        self.page(call, key).await
    }

    /// Every item of a list from its first page on (`call` is built with
    /// [`PageRequest::first`]); a request that failed to build is the stream's only item.
    pub(crate) fn stream_from<T>(
        &self,
        call: Result<Call, ManagementError>,
        key: &'static str,
    ) -> impl Stream<Item = Result<T, ManagementError>> + Send + use<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        stream_or_error(call, move |call| paginate(client, call, key))
    }

    /// Every item of the list at `segments` (`GET`, no filters), its items under `key`, from
    /// the first page on in pages of `page`'s size.
    pub(crate) fn paged<T>(
        &self,
        segments: &[&str],
        page: PageRequest,
        key: &'static str,
    ) -> impl Stream<Item = Result<T, ManagementError>> + Send + use<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.stream_from(self.list_call(segments, &page.first()), key)
    }
}

/// A stream from a request that may have failed to build: the error as its only item.
pub(crate) fn stream_or_error<T, S>(
    call: Result<Call, ManagementError>,
    make: impl FnOnce(Call) -> S,
) -> Either<S, Once<Ready<Result<T, ManagementError>>>>
where
    S: Stream<Item = Result<T, ManagementError>>,
{
    match call {
        Ok(call) => Either::Left(make(call)),
        Err(e) => Either::Right(futures_util::stream::once(std::future::ready(Err(e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test bodies are objects"),
        }
    }

    #[test]
    fn pages_parse_with_or_without_a_next_token() {
        let p: Page<u32> = parse_page(
            body(json!({"code": "OK", "message": "Success", "users": [1, 2], "next_token": "t2"})),
            "users",
        )
        .unwrap();
        assert_eq!(p.items, [1, 2]);
        assert_eq!(p.next_token.as_deref(), Some("t2"));
        assert!(p.has_more());
        let first = PageRequest::of_size(2).sort("name_asc");
        let next = p.next_request(&first).unwrap();
        assert_eq!(next.page_size, Some(2));
        assert_eq!(next.sort.as_deref(), Some("name_asc"));
        assert_eq!(next.next_token.as_deref(), Some("t2"));

        for end in [
            json!({"users": [3]}),
            json!({"users": [3], "next_token": null}),
            json!({"users": [3], "next_token": ""}),
        ] {
            let p: Page<u32> = parse_page(body(end), "users").unwrap();
            assert_eq!(p.items, [3]);
            assert!(!p.has_more());
            assert!(p.next_request(&first).is_none());
        }
        let empty: Page<u32> = parse_page(body(json!({"users": null})), "users").unwrap();
        assert!(empty.items.is_empty());
        let empty: Page<u32> = parse_page(body(json!({"code": "OK"})), "users").unwrap();
        assert!(empty.items.is_empty());
    }

    #[test]
    fn malformed_pages_are_errors() {
        assert!(parse_page::<u32>(body(json!({"users": {"a": 1}})), "users").is_err());
        assert!(parse_page::<u32>(body(json!({"users": ["x"]})), "users").is_err());
        assert!(parse_page::<u32>(body(json!({"users": [], "next_token": 5})), "users").is_err());
    }
}
