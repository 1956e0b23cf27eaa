//! Form bodies: `application/x-www-form-urlencoded` and `multipart/form-data`
//! (RFC 7578), the two encodings an HTML `<form>` can POST.

use std::fmt;

use crate::header_params;
use crate::urlencoded::Params;

/// The fields and uploaded files of a form body.
///
/// Text fields are in [`Form::fields`] for both encodings, so a handler reads
/// `firstname` the same way whichever `enctype` the page used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Params,
    files: Vec<UploadedFile>,
}

impl Form {
    /// A form from parts, for handler tests that skip the encoding.
    pub fn new(fields: Params, files: Vec<UploadedFile>) -> Self {
        Self { fields, files }
    }

    /// The first value of the text field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// All text fields in request order.
    pub fn fields(&self) -> &Params {
        &self.fields
    }

    /// The first file uploaded under the field `name`.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// All uploaded files in request order.
    pub fn files(&self) -> &[UploadedFile] {
        &self.files
    }
}

/// One file from a `multipart/form-data` body, held in memory: the host has
/// already bounded the request body, so the upload cannot exceed that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    name: String,
    filename: String,
    content_type: String,
    data: Vec<u8>,
}

impl UploadedFile {
    /// A file from parts, for handler tests.
    pub fn new(
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            name: name.into(),
            filename: filename.into(),
            content_type: content_type.into(),
            data: data.into(),
        }
    }

    /// The form field it was uploaded under (`<input type=file name=...>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file name the client sent: untrusted text, never a path to open.
    /// Empty when the user submitted the form without choosing a file.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The part's `Content-Type`, `application/octet-stream` when absent
    /// (RFC 7578 §4.4).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The file's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Why a form body could not be read. Each is the client's fault, so [`crate::run`]
/// answers it with a 4xx status (see [`FormError::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The body has a `Content-Type` that is not a form encoding.
    UnsupportedContentType(String),
    /// `multipart/form-data` without a usable `boundary` parameter.
    InvalidBoundary,
    /// The multipart body does not follow RFC 7578; the text says where.
    Malformed(&'static str),
}

impl FormError {
    /// The HTTP status that describes this failure: 415 for a body that is
    /// not a form, 400 for a broken one.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnsupportedContentType(_) => 415,
            Self::InvalidBoundary | Self::Malformed(_) => 400,
        }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedContentType(ct) => {
                write!(f, "the body is not a form (Content-Type {ct:?})")
            }
            Self::InvalidBoundary => f.write_str("multipart body without a valid boundary"),
            Self::Malformed(why) => write!(f, "malformed multipart body: {why}"),
        }
    }
}

impl std::error::Error for FormError {}

/// Decodes `body` according to `content_type`. An empty body is an empty form
/// whatever the type, so a GET handler may call it too.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Result<Form, FormError> {
    let (media_type, params) = header_params::parse(content_type);
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => Ok(Form {
            fields: Params::parse_bytes(body),
            files: Vec::new(),
        }),
        "multipart/form-data" => {
            let boundary =
                header_params::get(&params, "boundary").ok_or(FormError::InvalidBoundary)?;
            parse_multipart(boundary.as_bytes(), body)
        }
        _ if body.is_empty() => Ok(Form::default()),
        _ => Err(FormError::UnsupportedContentType(content_type.to_owned())),
    }
}

/// RFC 2046 §5.1.1: 1 to 70 characters from a small set. Checking it also
/// keeps the delimiter search linear: the delimiter then contains no CR, so
/// partial matches cannot overlap.
fn valid_boundary(b: &[u8]) -> bool {
    (1..=70).contains(&b.len())
        && b.last() != Some(&b' ')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

/// Parses a whole `multipart/form-data` body held in memory.
pub(crate) fn parse_multipart(boundary: &[u8], body: &[u8]) -> Result<Form, FormError> {
    if !valid_boundary(boundary) {
        return Err(FormError::InvalidBoundary);
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary);

    // The first delimiter may open the body without the leading CRLF; anything
    // before it is preamble and ignored.
    let mut pos = if body.starts_with(&delimiter[2..]) {
        delimiter.len() - 2
    } else {
        find(body, &delimiter).ok_or(FormError::Malformed("no opening boundary"))? + delimiter.len()
    };

    let mut form = Form::default();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let rest = rest[padding..]
            .strip_prefix(b"\r\n")
            .ok_or(FormError::Malformed("boundary not followed by CRLF"))?;
        let part_start = body.len() - rest.len();
        let part_len =
            find(rest, &delimiter).ok_or(FormError::Malformed("part without closing boundary"))?;
        add_part(&mut form, &rest[..part_len])?;
        pos = part_start + part_len + delimiter.len();
    }
}

fn add_part(form: &mut Form, part: &[u8]) -> Result<(), FormError> {
    let (head, data) = if part.starts_with(b"\r\n") {
        (&[][..], &part[2..])
    } else {
        let end = find(part, b"\r\n\r\n").ok_or(FormError::Malformed("part headers not ended"))?;
        (&part[..end], &part[end + 4..])
    };
    let head =
        std::str::from_utf8(head).map_err(|_| FormError::Malformed("part headers not UTF-8"))?;
    let mut disposition = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let (name, value) = line
            .split_once(':')
            .ok_or(FormError::Malformed("part header line without a colon"))?;
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value.trim());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim());
        }
    }
    let disposition =
        disposition.ok_or(FormError::Malformed("part without Content-Disposition"))?;
    let (kind, params) = header_params::parse(disposition);
    if kind != "form-data" {
        return Err(FormError::Malformed("part disposition is not form-data"));
    }
    let name = header_params::get(&params, "name")
        .ok_or(FormError::Malformed("part without a field name"))?;
    match header_params::get(&params, "filename") {
        Some(filename) => form.files.push(UploadedFile {
            name,
            filename,
            content_type: content_type
                .unwrap_or("application/octet-stream")
                .to_owned(),
            data: data.to_vec(),
        }),
        None => form
            .fields
            .push(name, String::from_utf8_lossy(data).into_owned()),
    }
    Ok(())
}

/// First index of `needle` in `haystack`. A plain scan on the needle's first
/// byte: with the delimiters used here it is linear (see [`valid_boundary`])
/// and a dependency on `memchr` would not pay for itself.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut start = 0;
    while let Some(offset) = haystack[start..].iter().position(|&b| b == first) {
        let at = start + offset;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if &haystack[at + 1..at + needle.len()] == tail {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[&str]) -> Vec<u8> {
        let mut b = String::new();
        for p in parts {
            b.push_str("--XyZ\r\n");
            b.push_str(p);
            b.push_str("\r\n");
        }
        b.push_str("--XyZ--\r\n");
        b.into_bytes()
    }

    #[test]
    fn urlencoded_form() {
        let f = parse("application/x-www-form-urlencoded", b"firstname=Ada&x=1+2").unwrap();
        assert_eq!(f.get("firstname"), Some("Ada"));
        assert_eq!(f.get("x"), Some("1 2"));
        assert!(f.files().is_empty());
    }

    #[test]
    fn multipart_fields_and_file() {
        let b = body(&[
            "Content-Disposition: form-data; name=\"firstname\"\r\n\r\nAda",
            "Content-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n",
            "Content-Disposition: form-data; name=\"bin\"; filename=\"\"\r\n\r\n",
        ]);
        let f = parse(CT, &b).unwrap();
        assert_eq!(f.get("firstname"), Some("Ada"));
        let up = f.file("upload").unwrap();
        assert_eq!(up.filename(), "notes.txt");
        assert_eq!(up.content_type(), "text/plain");
        assert_eq!(up.data(), b"line 1\r\nline 2\r\n");
        let empty = f.file("bin").unwrap();
        assert_eq!(empty.filename(), "");
        assert_eq!(empty.content_type(), "application/octet-stream");
        assert!(empty.data().is_empty());
    }

    #[test]
    fn preamble_epilogue_and_padding_are_ignored() {
        let b = b"preamble\r\n--XyZ  \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--epilogue";
        let f = parse(CT, b).unwrap();
        assert_eq!(f.get("a"), Some("1"));
    }

    #[test]
    fn quoted_boundary() {
        let b = b"--a:b c\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--a:b c--";
        let f = parse("multipart/form-data; boundary=\"a:b c\"", b).unwrap();
        assert_eq!(f.get("a"), Some("1"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("multipart/form-data", b"x"),
            Err(FormError::InvalidBoundary)
        );
        assert_eq!(
            parse("multipart/form-data; boundary=\"a\r\nb\"", b"x"),
            Err(FormError::InvalidBoundary)
        );
        assert!(matches!(
            parse(CT, b"no delimiter"),
            Err(FormError::Malformed(_))
        ));
        assert!(matches!(
            parse(
                CT,
                b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated"
            ),
            Err(FormError::Malformed(_))
        ));
        assert!(matches!(
            parse(CT, &body(&["Content-Type: text/plain\r\n\r\nx"])),
            Err(FormError::Malformed(_))
        ));
        let err = parse("application/json", b"{}").unwrap_err();
        assert_eq!(err.status(), 415);
        assert!(parse("application/json", b"").unwrap().fields().is_empty());
    }

    #[test]
    fn find_works_at_edges() {
        assert_eq!(find(b"abc", b"abc"), Some(0));
        assert_eq!(find(b"xxab", b"abc"), None);
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"", b"a"), None);
    }

    proptest! {
        #[test]
        fn multipart_never_panics(input in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = parse(CT, &input);
        }

        #[test]
        fn multipart_never_panics_on_near_valid_input(
            cut in 0usize..200,
            noise in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'"'), Just(b';'), any::<u8>()], 0..64),
        ) {
            let mut b = body(&[
                "Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue",
                "Content-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\ndata",
            ]);
            let at = cut.min(b.len());
            b.splice(at..at, noise);
            let _ = parse(CT, &b);
        }

        #[test]
        fn any_content_type_never_panics(ct in "\\PC{0,64}", input in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse(&ct, &input);
        }

        #[test]
        fn file_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut b = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"d.bin\"\r\n\r\n".to_vec();
            b.extend_from_slice(&data);
            b.extend_from_slice(b"\r\n--XyZ--\r\n");
            // Arbitrary bytes may contain the delimiter itself; only check when they do not.
            prop_assume!(find(&data, b"\r\n--XyZ").is_none());
            let f = parse(CT, &b).unwrap();
            prop_assert_eq!(f.file("f").unwrap().data(), &data[..]);
        }
    }
}
