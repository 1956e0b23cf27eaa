//! Numbers written as ASCII digits, by hand: every request writes a few (a
//! status code, a length, a port, a request id, a chunk size), and `fmt`'s
//! machinery costs some 300 to 600 instructions per number (callgrind, a
//! `hello` request). The one place that writes them, for the HTTP side and
//! the guest's environment alike.

/// Appends `n` in decimal, as `Display` writes it.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The lower-case hex digits of `n`, most significant first, zero-padded to
/// `min_width`: `{n:x}` is `hex_digits(n, 1)`, `{n:016x}` is
/// `hex_digits(n, 16)`.
pub(crate) fn hex_digits(n: u64, min_width: u32) -> impl Iterator<Item = u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let width = (u64::BITS - n.leading_zeros())
        .div_ceil(4)
        .max(min_width)
        .max(1);
    (0..width)
        .rev()
        .map(move |i| HEX[(n.checked_shr(i * 4).unwrap_or(0) & 15) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(n: u64, min_width: u32) -> String {
        hex_digits(n, min_width).map(char::from).collect()
    }

    #[test]
    fn edges() {
        for n in [0u64, 7, 9, 10, 15, 16, 255, 256, 4096, 1 << 20, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            assert_eq!(hex(n, 1), format!("{n:x}"));
            assert_eq!(hex(n, 16), format!("{n:016x}"));
        }
        assert_eq!(hex(0, 0), "0");
        assert_eq!(hex(0xab, 20), format!("{:020x}", 0xab));
    }

    proptest! {
        #[test]
        fn digits_read_as_format_writes_them(n in any::<u64>(), width in 0u32..24) {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            prop_assert_eq!(out, n.to_string().into_bytes());
            prop_assert_eq!(hex(n, width), format!("{n:0w$x}", w = width as usize));
        }
    }
}
