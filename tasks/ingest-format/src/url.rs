//! URL decoding: percent-decoding (AWS's log encoding and HTML form encoding) and splitting a
//! query string into its pairs, without allocating per value.

/// Undoes URL encoding into reused buffers.
#[derive(Debug, Default)]
pub struct Decoder {
    bytes: Vec<u8>,
    scratch: Vec<u8>,
    text: String,
}

impl Decoder {
    /// `%XX` → byte, once. Returns `raw` itself when there is nothing to decode. Bytes that do
    /// not form UTF-8 after decoding become U+FFFD.
    pub fn decode<'s>(&'s mut self, raw: &'s str) -> &'s str {
        if !raw.as_bytes().contains(&b'%') {
            return raw;
        }
        self.bytes.clear();
        percent_decode(raw.as_bytes(), false, &mut self.bytes);
        self.finish()
    }

    /// The user agent: decoded once, and once more when old files encoded it twice (`%2520`).
    pub fn decode_user_agent<'s>(&'s mut self, raw: &'s str) -> &'s str {
        if !raw.as_bytes().contains(&b'%') {
            return raw;
        }
        self.bytes.clear();
        percent_decode(raw.as_bytes(), false, &mut self.bytes);
        if is_double_encoded(raw.as_bytes()) {
            std::mem::swap(&mut self.bytes, &mut self.scratch);
            self.bytes.clear();
            percent_decode(&self.scratch, false, &mut self.bytes);
        }
        self.finish()
    }

    /// A query-string value as logged: AWS's encoding undone, then the client's form encoding
    /// (`+` is a space, `%XX` a byte).
    pub fn decode_query_value<'s>(&'s mut self, raw: &'s str) -> &'s str {
        if !is_form_encoded(raw) {
            return raw;
        }
        self.scratch.clear();
        percent_decode(raw.as_bytes(), false, &mut self.scratch);
        self.bytes.clear();
        percent_decode(&self.scratch, true, &mut self.bytes);
        self.finish()
    }

    fn finish(&mut self) -> &str {
        self.text.clear();
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => self.text.push_str(s),
            Err(_) => self.text.push_str(&String::from_utf8_lossy(&self.bytes)),
        }
        &self.text
    }
}

/// Whether a query-string value holds `%` or `+`, i.e. differs once decoded.
#[inline]
pub fn is_form_encoded(raw: &str) -> bool {
    crate::swar::contains_either(raw.as_bytes(), b'%', b'+')
}

/// Percent-decodes `raw` onto `out`; `%` not followed by two hex digits stays as it is. With
/// `plus_is_space`, `+` becomes a space (HTML form encoding of query strings).
pub fn percent_decode(raw: &[u8], plus_is_space: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let next = if plus_is_space {
            memchr::memchr2(b'%', b'+', &raw[i..])
        } else {
            memchr::memchr(b'%', &raw[i..])
        };
        let Some(off) = next else {
            out.extend_from_slice(&raw[i..]);
            return;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off;
        if raw[i] == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        match (
            raw.get(i + 1).and_then(|&c| hex(c)),
            raw.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            _ => {
                out.push(b'%');
                i += 1;
            }
        }
    }
}

/// `%25` followed by two hex digits: an encoded `%XX`, i.e. the value was encoded twice.
fn is_double_encoded(raw: &[u8]) -> bool {
    raw.windows(5).any(|w| {
        w[0] == b'%' && w[1] == b'2' && w[2] == b'5' && hex(w[3]).is_some() && hex(w[4]).is_some()
    })
}

#[inline]
fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The `key=value` pairs of a query string as logged, split before any decoding (AWS leaves `&`
/// and `=` alone, so the split is the client's). A pair without `=` has an empty value.
pub fn query_pairs(query: &str) -> QueryPairs<'_> {
    QueryPairs { rest: query }
}

/// Iterator of [`query_pairs`].
#[derive(Clone, Debug)]
pub struct QueryPairs<'q> {
    rest: &'q str,
}

impl<'q> Iterator for QueryPairs<'q> {
    type Item = (&'q str, &'q str);

    #[inline]
    fn next(&mut self) -> Option<(&'q str, &'q str)> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            // `&` and `=` are ASCII, so splitting the bytes keeps char boundaries.
            let bytes = self.rest.as_bytes();
            let end = crate::swar::find(bytes, b'&').unwrap_or(bytes.len());
            let eq = crate::swar::find(&bytes[..end], b'=');
            let pair = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
            if pair.is_empty() {
                continue;
            }
            return Some(match eq {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, ""),
            });
        }
    }
}

/// The first value of each of `keys` in `query` (raw, still encoded), in `keys` order.
pub fn first_values<'q, const N: usize>(query: &'q str, keys: &[&str; N]) -> [Option<&'q str>; N] {
    let mut out = [None; N];
    let mut missing = N;
    for (k, v) in query_pairs(query) {
        if let Some(i) = keys.iter().position(|key| *key == k)
            && out[i].is_none()
        {
            out[i] = Some(v);
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_handles_single_double_and_form_encoding() {
        let mut d = Decoder::default();
        assert_eq!(d.decode("a%20b%3Cc"), "a b<c");
        assert_eq!(d.decode("100%"), "100%");
        assert_eq!(d.decode("%zz%4"), "%zz%4");
        assert_eq!(d.decode("caf%C3%A9"), "café");
        assert_eq!(d.decode("bad%FF"), "bad\u{FFFD}");
        assert_eq!(
            d.decode_user_agent("Mozilla/5.0%2520(X11)"),
            "Mozilla/5.0 (X11)"
        );
        assert_eq!(
            d.decode_user_agent("Mozilla/5.0%20(X11)"),
            "Mozilla/5.0 (X11)"
        );
        assert_eq!(d.decode_user_agent("plain"), "plain");
        assert_eq!(d.decode_query_value("a+b%252B"), "a b+");
    }

    #[test]
    fn first_value_per_key_wins() {
        let q = "id=a&&b=1.2.3&uc=5&uc=999&flag&tc=&x=y=z&";
        assert_eq!(query_pairs(q).last(), Some(("x", "y=z")));
        let [id, b, uc, tc, flag, missing] =
            first_values(q, &["id", "b", "uc", "tc", "flag", "nope"]);
        assert_eq!(
            (id, b, uc, tc, flag, missing),
            (
                Some("a"),
                Some("1.2.3"),
                Some("5"),
                Some(""),
                Some(""),
                None
            )
        );
    }
}
