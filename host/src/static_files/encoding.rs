//! `Accept-Encoding` (RFC 9110 §12.5.3): choosing a precompressed sibling.

/// A content coding we can serve from a precompressed sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `x.br`, `Content-Encoding: br`.
    Br,
    /// `x.gz`, `Content-Encoding: gzip`.
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` value.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The file name suffix of the sibling.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// Quality values in thousandths (`q=0.5` is 500); `None` when the coding is
/// not named in the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Weights {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    star: Option<u16>,
}

/// Pick the sibling to serve, given the request's `Accept-Encoding` values and
/// which siblings exist; `None` means the file itself.
///
/// The best accepted coding wins, `br` on a tie; `q=0` refuses a coding; `*`
/// covers codings not named. The file itself is chosen only when the client
/// names `identity` with a higher weight. No header at all means identity:
/// that is what every server does, though the RFC would allow any coding.
pub(crate) fn choose<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    has_br: bool,
    has_gzip: bool,
) -> Option<Coding> {
    let w = parse(values)?;
    let weight = |explicit: Option<u16>| explicit.or(w.star).unwrap_or(0);
    let candidates = [
        (Coding::Br, has_br, weight(w.br)),
        (Coding::Gzip, has_gzip, weight(w.gzip)),
    ];
    let (coding, q) = candidates
        .into_iter()
        .filter(|&(_, exists, q)| exists && q > 0)
        .fold(None, |best: Option<(Coding, u16)>, (c, _, q)| match best {
            Some((_, bq)) if bq >= q => best,
            _ => Some((c, q)),
        })?;
    match w.identity {
        Some(identity) if identity > q => None,
        _ => Some(coding),
    }
}

/// Gather the weights from every `Accept-Encoding` line; `None` when there is
/// no header at all. The first mention of a coding counts.
fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<Weights> {
    let mut seen = false;
    let mut w = Weights::default();
    for value in values {
        seen = true;
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        for element in value.split(',') {
            let mut parts = element.split(';');
            let name = parts.next().unwrap_or("").trim_matches([' ', '\t']);
            if name.is_empty() {
                continue;
            }
            let Some(q) = quality(parts) else {
                continue;
            };
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut w.br
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut w.gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut w.identity
            } else if name == "*" {
                &mut w.star
            } else {
                continue;
            };
            slot.get_or_insert(q);
        }
    }
    seen.then_some(w)
}

/// The `q` parameter of one element (1000 when absent); `None` if malformed,
/// in which case the element is ignored.
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for param in params {
        let (key, value) = param.split_once('=')?;
        if key.trim_matches([' ', '\t']).eq_ignore_ascii_case("q") {
            q = qvalue(value.trim_matches([' ', '\t']))?;
        }
    }
    Some(q)
}

/// RFC 9110 `qvalue`: `0`, `0.xyz`, `1`, `1.000`, at most three decimals.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pick(header: Option<&str>, br: bool, gz: bool) -> Option<Coding> {
        choose(header.map(str::as_bytes).into_iter(), br, gz)
    }

    #[test]
    fn prefers_br_then_gzip() {
        assert_eq!(
            pick(Some("gzip, deflate, br"), true, true),
            Some(Coding::Br)
        );
        assert_eq!(
            pick(Some("gzip, deflate, br"), false, true),
            Some(Coding::Gzip)
        );
        assert_eq!(pick(Some("gzip, br"), false, false), None);
        assert_eq!(pick(Some("br;q=0.5, gzip"), true, true), Some(Coding::Gzip));
        assert_eq!(pick(Some("x-gzip"), true, true), Some(Coding::Gzip));
        assert_eq!(pick(Some("*"), true, true), Some(Coding::Br));
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(pick(Some("br;q=0, gzip;q=0"), true, true), None);
        assert_eq!(pick(Some("br;q=0.000"), true, true), None);
        assert_eq!(pick(Some("*;q=0, gzip"), true, true), Some(Coding::Gzip));
        assert_eq!(pick(Some("*;q=0"), true, true), None);
        assert_eq!(pick(Some("br; Q=0"), true, false), None);
    }

    #[test]
    fn identity_can_win() {
        assert_eq!(pick(Some("gzip;q=0.5, identity"), false, true), None);
        assert_eq!(
            pick(Some("gzip;q=0.5, identity;q=0.5"), false, true),
            Some(Coding::Gzip)
        );
        assert_eq!(pick(Some("gzip;q=0.5"), false, true), Some(Coding::Gzip));
    }

    #[test]
    fn no_header_or_junk_means_identity() {
        assert_eq!(pick(None, true, true), None);
        assert_eq!(pick(Some(""), true, true), None);
        assert_eq!(pick(Some("br;q=2, gzip;q=abc"), true, true), None);
        assert_eq!(pick(Some("br;q=1.5"), true, true), None);
        assert_eq!(pick(Some("br;q"), true, true), None);
    }

    #[test]
    fn several_lines_combine() {
        let lines: [&[u8]; 2] = [b"identity;q=0.1", b"gzip"];
        assert_eq!(choose(lines.into_iter(), false, true), Some(Coding::Gzip));
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.123"), Some(123));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1.001"), None);
        assert_eq!(qvalue("0.1234"), None);
        assert_eq!(qvalue(""), None);
        assert_eq!(qvalue("2"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_respects_existence(v in any::<Vec<u8>>(), br: bool, gz: bool) {
            match choose(std::iter::once(v.as_slice()), br, gz) {
                Some(Coding::Br) => prop_assert!(br),
                Some(Coding::Gzip) => prop_assert!(gz),
                None => {}
            }
        }
    }
}
