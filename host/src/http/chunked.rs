//! Strict chunked decoding (RFC 9112 §7.1).
//!
//! Our own state machine rather than `httparse::parse_chunk_size`, which
//! accepts bare LF, stray whitespace and unbounded extensions: the chunk
//! framing decides where one request ends and the next begins, so any
//! leniency here is a request-smuggling vector. The decoder is incremental:
//! it keeps partial size lines in its state, so it consumes every byte it is
//! given and the caller's buffer never grows while a body streams through.

use super::grammar::{is_field_byte, is_tchar};
use super::Limits;

/// What one call to [`ChunkedDecoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk<'a> {
    /// Payload bytes (a borrowed part of the input).
    Data(&'a [u8]),
    /// All input was consumed; more is needed.
    NeedMore,
    /// The last chunk and the trailer section are complete.
    Done,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size { value: u64, digits: usize },
    /// Whitespace after the size, which must lead to `;`.
    ExtSpace { value: u64 },
    /// Inside chunk extensions, skipped until CR.
    Ext { value: u64 },
    /// CR of the size line seen, LF expected.
    SizeLf { value: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Chunk data done, CR expected.
    DataCr,
    /// CR after chunk data seen, LF expected.
    DataLf,
    /// At the start of a trailer line or the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// CR of a trailer line seen, LF expected.
    TrailerLf,
    /// CR of the final empty line seen, LF expected.
    EndLf,
    /// The body is complete.
    Done,
}

/// An incremental, strict decoder for one chunked body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    line_len: usize,
    trailer_len: usize,
    /// The sum of every chunk size read so far, the current chunk's whole
    /// size included as soon as its size line ends (saturating).
    declared: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_len: 0,
            trailer_len: 0,
            declared: 0,
        }
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The payload the client has announced so far: every chunk size read,
    /// the current chunk counted whole as soon as its size line ends. A
    /// reader compares it with its limit after each [`ChunkedDecoder::decode`]
    /// so that a chunk declared larger than the limit allows is refused at
    /// its size line, not after the client sent (or failed to send) its data.
    pub(crate) fn declared(&self) -> u64 {
        self.declared
    }

    /// Decode from `src`; returns how many bytes of `src` were consumed and
    /// what was found. Data is returned as soon as any is available, so the
    /// caller copies or discards it and calls again with the rest.
    pub(crate) fn decode<'a>(&mut self, src: &'a [u8]) -> Result<(usize, Chunk<'a>), &'static str> {
        if self.is_done() {
            return Ok((0, Chunk::Done));
        }
        let mut i = 0;
        while i < src.len() {
            if let State::Data { remaining } = self.state {
                let available = src.len() - i;
                let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                return Ok((i + take, Chunk::Data(&src[i..i + take])));
            }
            let b = src[i];
            i += 1;
            self.step(b)?;
            if self.is_done() {
                return Ok((i, Chunk::Done));
            }
        }
        Ok((i, Chunk::NeedMore))
    }

    fn size_line_byte(&mut self) -> Result<(), &'static str> {
        self.line_len += 1;
        if self.line_len > Limits::MAX_CHUNK_LINE {
            return Err("chunk size line too long");
        }
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<(), &'static str> {
        self.trailer_len += 1;
        if self.trailer_len > Limits::MAX_TRAILER_BYTES {
            return Err("chunked trailer section too large");
        }
        Ok(())
    }

    fn step(&mut self, b: u8) -> Result<(), &'static str> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.size_line_byte()?;
                match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                        let value = value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(digit))
                            .ok_or("chunk size overflows")?;
                        State::Size {
                            value,
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => return Err("chunk size is not hexadecimal"),
                    b'\r' => State::SizeLf { value },
                    b';' => State::Ext { value },
                    b' ' | b'\t' => State::ExtSpace { value },
                    _ => return Err("invalid byte after chunk size"),
                }
            }
            State::ExtSpace { value } => {
                self.size_line_byte()?;
                match b {
                    b' ' | b'\t' => State::ExtSpace { value },
                    b';' => State::Ext { value },
                    _ => return Err("whitespace after chunk size without extension"),
                }
            }
            State::Ext { value } => {
                self.size_line_byte()?;
                match b {
                    b'\r' => State::SizeLf { value },
                    _ if is_field_byte(b) => State::Ext { value },
                    _ => return Err("invalid byte in chunk extension"),
                }
            }
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err("chunk size line not ended by CRLF");
                }
                self.line_len = 0;
                self.declared = self.declared.saturating_add(value);
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: value }
                }
            }
            // `decode` handles data before stepping; a byte here means a
            // zero-length remainder, which the state never holds.
            State::Data { .. } => return Err("chunk data state out of step"),
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err("chunk data not followed by CRLF"),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err("chunk data not followed by CRLF"),
            },
            State::TrailerStart => {
                self.trailer_byte()?;
                match b {
                    b'\r' => State::EndLf,
                    _ if is_tchar(b) => State::TrailerName,
                    _ => return Err("invalid trailer field"),
                }
            }
            State::TrailerName => {
                self.trailer_byte()?;
                match b {
                    b':' => State::TrailerValue,
                    _ if is_tchar(b) => State::TrailerName,
                    _ => return Err("invalid trailer field name"),
                }
            }
            State::TrailerValue => {
                self.trailer_byte()?;
                match b {
                    b'\r' => State::TrailerLf,
                    _ if is_field_byte(b) => State::TrailerValue,
                    _ => return Err("invalid trailer field value"),
                }
            }
            State::TrailerLf => {
                self.trailer_byte()?;
                match b {
                    b'\n' => State::TrailerStart,
                    _ => return Err("trailer line not ended by CRLF"),
                }
            }
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return Err("chunked body not ended by CRLF"),
            },
            State::Done => State::Done,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decode `input` fed in pieces of `split` bytes; the payload, or the error.
    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, usize), &'static str> {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            if pending.is_empty() {
                if fed >= input.len() {
                    return Err("incomplete");
                }
                let end = (fed + split.max(1)).min(input.len());
                pending.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            let (used, chunk) = dec.decode(&pending)?;
            assert!(used <= pending.len());
            match chunk {
                Chunk::Data(d) => out.extend_from_slice(d),
                Chunk::NeedMore => assert_eq!(used, pending.len()),
                Chunk::Done => {
                    let rest = pending.len() - used + (input.len() - fed);
                    return Ok((out, rest));
                }
            }
            pending.drain(..used);
        }
    }

    fn encode(chunks: &[Vec<u8>], ext: &str, trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x}{ext}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("0{ext}\r\n").as_bytes());
        for (n, v) in trailers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn decodes_simple_body_and_leaves_the_rest() {
        let input = b"4\r\nWiki\r\n5;name=\"v\"\r\npedia\r\n0\r\nX-T: 1\r\n\r\nGET /";
        for split in 1..input.len() {
            let (body, rest) = decode_all(input, split).unwrap();
            assert_eq!(body, b"Wikipedia");
            assert_eq!(rest, 5);
        }
    }

    #[test]
    fn accepts_uppercase_hex_leading_zeros_and_extension_space() {
        let (body, _) = decode_all(b"000A ; a=b\r\n0123456789\r\n0\r\n\r\n", 64).unwrap();
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn rejects_malformed_framing() {
        let bad: &[&[u8]] = &[
            b"\r\n",                      // empty size
            b"x\r\n",                     // not hex
            b"-1\r\n",                    // sign
            b"+1\r\n",                    // sign
            b"0x1\r\n",                   // prefix
            b"1\nA\r\n0\r\n\r\n",         // bare LF after size
            b"1\r\nA\n0\r\n\r\n",         // bare LF after data
            b"1\r\nAB\r\n0\r\n\r\n",      // data longer than size
            b"1 \r\nA\r\n0\r\n\r\n",      // whitespace without extension
            b"1;a\x00\r\nA\r\n0\r\n\r\n", // NUL in extension
            b"1;a\nb\r\nA\r\n0\r\n\r\n",  // LF in extension
            b"10000000000000000\r\n",     // overflows u64
            b"0\r\n\r",                   // then a non-LF below
            b"0\r\n folded: x\r\n\r\n",   // obs-fold in trailer
            b"0\r\nNo-Colon\r\n\r\n",     // trailer without colon
            b"0\r\nBad Name: x\r\n\r\n",  // space in trailer name
            b"0\r\nA: x\ny\r\n\r\n",      // bare LF in trailer
            b"0\r\n\n",                   // bare LF at end
        ];
        for input in bad {
            let mut with_tail = input.to_vec();
            with_tail.extend_from_slice(b"Z");
            assert!(
                decode_all(&with_tail, 3).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bounds_size_line_and_trailers() {
        let mut long_ext = b"1;".to_vec();
        long_ext.resize(Limits::MAX_CHUNK_LINE + 10, b'a');
        assert_eq!(
            decode_all(&long_ext, 100).unwrap_err(),
            "chunk size line too long"
        );
        let mut zeros = vec![b'0'; Limits::MAX_CHUNK_LINE + 10];
        zeros.push(b'1');
        assert!(decode_all(&zeros, 100).is_err());
        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < Limits::MAX_TRAILER_BYTES + 100 {
            trailers.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        assert_eq!(
            decode_all(&trailers, 100).unwrap_err(),
            "chunked trailer section too large"
        );
    }

    #[test]
    fn max_u64_size_is_accepted_as_a_size() {
        let mut dec = ChunkedDecoder::new();
        let (used, chunk) = dec.decode(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!((used, chunk), (20, Chunk::Data(b"ab")));
        // The whole size is announced at once, before its data arrives.
        assert_eq!(dec.declared(), u64::MAX);
    }

    #[test]
    fn a_size_line_announces_its_chunk_before_the_data() {
        let mut dec = ChunkedDecoder::new();
        let (used, chunk) = dec.decode(b"10\r\n").unwrap();
        assert_eq!((used, chunk), (4, Chunk::NeedMore));
        assert_eq!(dec.declared(), 16);
        let (_, chunk) = dec.decode(b"0123456789abcdef\r\n").unwrap();
        assert_eq!(chunk, Chunk::Data(b"0123456789abcdef"));
        let (_, chunk) = dec.decode(b"\r\n8\r\n").unwrap();
        assert_eq!(chunk, Chunk::NeedMore);
        assert_eq!(dec.declared(), 24);
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..512), split in 1usize..64) {
            let _ = decode_all(&input, split);
        }

        #[test]
        fn round_trips_valid_encodings(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            ext in prop_oneof![Just(""), Just(";a=b"), Just(" ;x"), Just(";q=\"a b\"")],
            trailer in any::<bool>(),
            split in 1usize..50,
        ) {
            let trailers: &[(&str, &str)] = if trailer { &[("X-Sum", "abc"), ("Y", "")] } else { &[] };
            let mut input = encode(&chunks, ext, trailers);
            input.extend_from_slice(b"NEXT");
            let (body, rest) = decode_all(&input, split).unwrap();
            prop_assert_eq!(body, chunks.concat());
            prop_assert_eq!(rest, 4);
        }

        #[test]
        fn rejects_a_corrupted_size_line(
            chunk in proptest::collection::vec(any::<u8>(), 1..100),
            bad in prop_oneof![Just(b'g'), Just(b'\n'), Just(b'-'), Just(b'\0'), Just(b'x')],
        ) {
            // The corrupting byte replaces the CR ending the first size line.
            let mut input = encode(std::slice::from_ref(&chunk), "", &[]);
            let cr = input.iter().position(|&b| b == b'\r').unwrap();
            input[cr] = bad;
            prop_assert!(decode_all(&input, 7).is_err());
        }
    }
}
