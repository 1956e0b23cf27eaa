//! HTML escaping, the one thing every handler that echoes input must do.

use std::borrow::Cow;

/// Escapes `& < > " '` so `text` can sit in HTML content or a quoted
/// attribute without becoming markup. Borrows when nothing needs escaping,
/// the common case.
///
/// ```
/// use wasibin_guest::escape_html;
/// assert_eq!(escape_html("<b>Tom & \"Jerry\"</b>"), "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;");
/// assert_eq!(escape_html("plain"), "plain");
/// ```
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escaped_text_has_no_markup(s in "\\PC{0,64}") {
            let e = escape_html(&s);
            prop_assert!(!e.contains(['<', '>', '"', '\'']));
        }
    }
}
