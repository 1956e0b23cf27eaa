package wasibin

import (
	"strings"
	"unicode/utf8"
)

// Pair is one name and value of a query string, a form, a cookie header or
// the request headers.
type Pair struct {
	Name  string
	Value string
}

// Params is an ordered list of name/value pairs where a name may repeat.
//
// Query strings and forms keep their order and their repeated keys
// (?tag=a&tag=b, a group of checkboxes), which a map would lose; lookups are
// linear, which is faster than hashing for the handful of fields a request
// has.
type Params []Pair

// ParseParams decodes application/x-www-form-urlencoded text
// (a=1&b=two+words&c=%C3%A9): '+' is a space, %XX a byte, a '%' without two
// hex digits stays literal, empty pieces are skipped and a piece without '='
// is a name with an empty value. Bytes that are not UTF-8 become U+FFFD.
func ParseParams(input string) Params {
	var out Params
	for len(input) > 0 {
		piece := input
		if i := strings.IndexByte(input, '&'); i >= 0 {
			piece, input = input[:i], input[i+1:]
		} else {
			input = ""
		}
		if piece == "" {
			continue
		}
		name, value := piece, ""
		if eq := strings.IndexByte(piece, '='); eq >= 0 {
			name, value = piece[:eq], piece[eq+1:]
		}
		out = append(out, Pair{DecodeComponent(name), DecodeComponent(value)})
	}
	return out
}

// Get returns the first value of name, the answer for a field expected once.
func (p Params) Get(name string) (string, bool) {
	for _, kv := range p {
		if kv.Name == name {
			return kv.Value, true
		}
	}
	return "", false
}

// Value returns the first value of name, or "" when it is absent.
func (p Params) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// GetAll returns every value of name in request order, for repeated fields.
func (p Params) GetAll(name string) []string {
	var out []string
	for _, kv := range p {
		if kv.Name == name {
			out = append(out, kv.Value)
		}
	}
	return out
}

// Has reports whether name appears at all, even with an empty value (?debug).
func (p Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// DecodeComponent decodes one form component: '+' to a space, %XX to its
// byte; a '%' not followed by two hex digits stays literal, as browsers and
// WHATWG's URL standard do, so a stray '%' never loses the rest of the value.
// Bytes that are not UTF-8 become U+FFFD.
func DecodeComponent(s string) string {
	return decode(s, true)
}

// PercentDecode decodes %XX escapes only ('+' stays '+'), the rule for paths.
func PercentDecode(s string) string {
	return decode(s, false)
}

func decode(s string, plusIsSpace bool) string {
	if strings.IndexByte(s, '%') < 0 && (!plusIsSpace || strings.IndexByte(s, '+') < 0) {
		return validUTF8(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+' && plusIsSpace:
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return validUTF8(string(out))
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// EncodeComponent percent-encodes every byte except RFC 3986's unreserved
// characters (A-Z a-z 0-9 - . _ ~): safe in a query, a form, a path segment
// and a cookie value, and undone by [DecodeComponent].
func EncodeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// EscapeHTML escapes & < > " ' so that text from the request is inert inside
// HTML content and quoted attributes. Unlike html.EscapeString it writes the
// same entities as the other wasibin SDKs (&quot; and &#39;).
func EscapeHTML(s string) string {
	if strings.IndexAny(s, "&<>\"'") < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
