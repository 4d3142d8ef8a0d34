//! Checking a post-sign-in `return_to` (docs/security.md case 37).

/// Longest `return_to` kept.
const MAX_RETURN_TO: usize = 2048;

/// `raw` if it is a same-site relative path, else `/` (docs/security.md case 37, RFC 9700
/// §4.11.1).
///
/// Accepted: a path starting with a single `/`, of visible ASCII without `\`, that still starts
/// with a single `/` once percent-decoded, and that a browser resolves to the same origin.
/// Refused: absolute URLs (`https://evil`), scheme-relative ones (`//evil`), backslash tricks
/// (`/\evil`), `https:evil`, `javascript:…`, encoded slashes (`%2F%2Fevil`, `/%2F/evil`), and
/// control characters (`/\t/evil`).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path) if is_safe_path(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    let plain = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'\\');
    if path.len() > MAX_RETURN_TO || !plain {
        return false;
    }
    let Some(decoded) = percent_decode(path) else {
        return false;
    };
    if decoded.first() != Some(&b'/')
        || decoded.get(1) == Some(&b'/')
        || decoded
            .iter()
            .any(|b| *b == b'\\' || *b < 0x20 || *b == 0x7f)
    {
        return false;
    }
    let Ok(base) = url::Url::parse("https://origin.invalid/") else {
        return false;
    };
    base.join(path)
        .is_ok_and(|u| u.origin() == base.origin() && u.username().is_empty())
}

/// `%XX` decoded once; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
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
        for good in ["/", "/dashboard", "/a/b?c=d&e=%20f#top"] {
            assert_eq!(safe_return_to(Some(good)), good);
        }
    }
}
