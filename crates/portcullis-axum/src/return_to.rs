//! Where to send the browser after sign-in: only a same-site relative path (security.md case
//! 37, RFC 9700 §4.11.1); anything else falls back to `/`.

/// Longest `return_to` kept.
const MAX_LEN: usize = 2048;

/// `raw` if it is a same-site relative path, else `/`.
///
/// Accepted: a path starting with a single `/`, of visible ASCII without `\`, that still starts
/// with a single `/` once percent-decoded, and that a browser resolves to the same origin.
/// Refused: absolute URLs (`https://evil`), scheme-relative ones (`//evil`), backslash tricks
/// (`/\evil`, which browsers read as `//evil`), `https:evil`, `javascript:…`, encoded slashes
/// (`%2F%2Fevil`, `/%2F/evil`), and control characters (`/\t/evil`: browsers strip tabs and
/// newlines from URLs).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path) if is_safe(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe(path: &str) -> bool {
    if path.len() > MAX_LEN || !plain_path(path.as_bytes()) {
        return false;
    }
    let Some(decoded) = percent_decode(path) else {
        return false;
    };
    // Decoded, it must still be a path of this site: no `//` start, no backslash (browsers read
    // it as `/`), no control character. (Encoded spaces or UTF-8 are fine.)
    if decoded.first() != Some(&b'/')
        || decoded.get(1) == Some(&b'/')
        || decoded
            .iter()
            .any(|b| *b == b'\\' || *b < 0x20 || *b == 0x7f)
    {
        return false;
    }
    // And the browser's reading: relative to any origin, it must stay on that origin.
    let Ok(base) = url::Url::parse("https://origin.invalid/") else {
        return false;
    };
    base.join(path)
        .is_ok_and(|u| u.origin() == base.origin() && u.username().is_empty())
}

/// One leading `/` (not `//`), then visible ASCII without `\`.
fn plain_path(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'\\')
}

/// `%XX` decoded once; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_37_off_site_targets_fall_back_to_the_root() {
        for evil in [
            "https://evil",
            "//evil",
            "/\\evil",
            "https:evil",
            "javascript:alert(1)",
            "%2F%2Fevil",
            "/\t/evil",
            "/\\t/evil",
            "/%2F/evil",
            "/%5Cevil",
            "/%09/evil",
            "/\n/evil",
            "",
            "evil",
            "/%zz",
            "/a b",
            "http://localhost/x",
        ] {
            assert_eq!(safe_return_to(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None), "/");
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }

    #[test]
    fn same_site_paths_are_kept() {
        for good in [
            "/",
            "/dashboard",
            "/a/b?c=d&e=%20f#top",
            "/profile?tab=orgs",
        ] {
            assert_eq!(safe_return_to(Some(good)), good);
        }
    }
}
