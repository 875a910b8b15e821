//! Byte searches eight bytes at a time, for the short fields of a log line: a field or a query
//! parameter is a dozen bytes or so, shorter than a `memchr` call pays off on, and a byte-by-byte
//! loop costs several instructions a byte.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);

/// The high bit of each byte of `word` that equals `byte`, exactly: the addition cannot carry
/// from one byte into the next.
#[inline(always)]
fn matches(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !((x & LOW7).wrapping_add(LOW7) | x | LOW7)
}

#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().expect("8 bytes"))
}

/// Calls `f` with the position of every `byte` in `bytes`, in order.
#[inline]
pub fn for_each(bytes: &[u8], byte: u8, mut f: impl FnMut(usize)) {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut found = matches(word(chunk), byte);
        while found != 0 {
            f(base + (found.trailing_zeros() / 8) as usize);
            found &= found - 1;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == byte {
            f(base + i);
        }
    }
}

/// The position of the first `byte` in `bytes`.
#[inline]
pub fn find(bytes: &[u8], byte: u8) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let found = matches(word(chunk), byte);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = chunks.remainder();
    rest.iter().position(|&b| b == byte).map(|i| base + i)
}

/// The position of the first `a` or `b` in `bytes`.
#[inline]
fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let w = word(chunk);
        let found = matches(w, a) | matches(w, b);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&c| c == a || c == b)
        .map(|i| base + i)
}

/// Whether `bytes` holds `a` or `b`.
#[inline]
pub fn contains_either(bytes: &[u8], a: u8, b: u8) -> bool {
    find_either(bytes, a, b).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_at_a_time_agrees_with_byte_by_byte() {
        // Every length around the 8-byte words, the byte at every position, neighbours one off
        // (0x7f/0x80 and the byte's own high-bit twin must not match).
        for len in 0..40usize {
            for at in 0..=len {
                let mut bytes: Vec<u8> = (0..len)
                    .map(|i| [0x25, 0x27, 0xa6, 0x7f, 0x80, 0x00][i % 6])
                    .collect();
                if at < len {
                    bytes[at] = b'&';
                }
                let want: Vec<usize> = bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'&')
                    .map(|(i, _)| i)
                    .collect();
                let mut got = Vec::new();
                for_each(&bytes, b'&', |i| got.push(i));
                assert_eq!(got, want, "len {len}, at {at}");
                assert_eq!(find(&bytes, b'&'), want.first().copied());
                assert_eq!(contains_either(&bytes, b'+', b'&'), !want.is_empty());
                let either = bytes.iter().position(|&c| c == b'&' || c == 0x80);
                assert_eq!(find_either(&bytes, b'&', 0x80), either);
                assert_eq!(contains_either(&bytes, b'%', b'!'), bytes.contains(&b'%'));
            }
        }
    }
}
