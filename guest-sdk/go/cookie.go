package wasibin

import (
	"strconv"
	"strings"
)

// parseCookieHeader splits a Cookie header (a=1; b="2") into pairs, in
// order (RFC 6265 §5.4). The host joins several Cookie headers with "; ", so
// one split sees them all. Pieces without '=' or with an empty name are
// skipped, as browsers never send them; a value in double quotes is unquoted.
func parseCookieHeader(header string) Params {
	var out Params
	for len(header) > 0 {
		piece := header
		if i := strings.IndexByte(header, ';'); i >= 0 {
			piece, header = header[:i], header[i+1:]
		} else {
			header = ""
		}
		eq := strings.IndexByte(piece, '=')
		if eq < 0 {
			continue
		}
		name := strings.TrimSpace(piece[:eq])
		value := strings.TrimSpace(piece[eq+1:])
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if name != "" {
			out = append(out, Pair{name, value})
		}
	}
	return out
}

// SameSite is the cookie's SameSite attribute: whether the browser sends it
// on requests started by other sites.
type SameSite int

const (
	// SameSiteUnset writes no attribute (browsers then treat it as Lax).
	SameSiteUnset SameSite = iota
	// SameSiteStrict: only same-site requests.
	SameSiteStrict
	// SameSiteLax: same-site requests and top-level navigations.
	SameSiteLax
	// SameSiteNone: every request; browsers require Secure with it.
	SameSiteNone
)

// Cookie is a Set-Cookie value (RFC 6265 §4.1).
//
//	wasibin.Cookie{Name: "session", Value: "abc123", Path: "/", MaxAge: 3600,
//		HTTPOnly: true, SameSite: wasibin.SameSiteLax}
//
// is sent as "session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax".
// The value must be made of RFC 6265 cookie-octets (no space, '"', ',', ';',
// '\', controls or non-ASCII): pass text through [EncodeComponent] first.
// [Response.WithCookie] refuses a cookie that [Cookie.Validate] rejects.
type Cookie struct {
	Name  string
	Value string
	// Path limits the cookie to URLs under it; empty writes no attribute.
	Path string
	// Domain shares the cookie with subdomains; empty writes no attribute.
	Domain string
	// MaxAge is the lifetime in seconds, as in net/http: 0 writes no
	// attribute (a session cookie), a negative value writes Max-Age=0,
	// which deletes the cookie at once.
	MaxAge int
	// Expires is an absolute expiry as an HTTP-date
	// ("Wed, 21 Oct 2015 07:28:00 GMT"); prefer MaxAge, which needs no clock.
	Expires  string
	Secure   bool
	HTTPOnly bool
	SameSite SameSite
}

// CookieError says why a [Cookie] cannot be sent.
type CookieError struct {
	// Field is "name", "value" or the attribute ("Path", "Domain", "Expires").
	Field string
	Text  string
}

func (e *CookieError) Error() string {
	switch e.Field {
	case "name":
		return "invalid cookie name " + strconv.Quote(e.Text)
	case "value":
		return "invalid cookie value " + strconv.Quote(e.Text) +
			" (space, quote, comma, semicolon, backslash, controls and non-ASCII must be encoded)"
	default:
		return "invalid cookie attribute " + e.Field
	}
}

// Validate checks that every part fits in a Set-Cookie header unchanged.
func (c Cookie) Validate() error {
	if !isToken(c.Name) {
		return &CookieError{"name", c.Name}
	}
	value := c.Value
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	for i := 0; i < len(value); i++ {
		if !isCookieOctet(value[i]) {
			return &CookieError{"value", c.Value}
		}
	}
	for _, attr := range [...]struct{ name, value string }{
		{"Path", c.Path}, {"Domain", c.Domain}, {"Expires", c.Expires},
	} {
		for i := 0; i < len(attr.value); i++ {
			if b := attr.value[i]; b == ';' || b < 0x20 || b == 0x7f {
				return &CookieError{attr.name, attr.value}
			}
		}
	}
	return nil
}

// isCookieOctet is RFC 6265's cookie-octet.
func isCookieOctet(b byte) bool {
	return b == 0x21 || (0x23 <= b && b <= 0x2B) || (0x2D <= b && b <= 0x3A) ||
		(0x3C <= b && b <= 0x5B) || (0x5D <= b && b <= 0x7E)
}

// String is the Set-Cookie header value. Call Validate first (the Response
// does, and refuses a cookie that fails it).
func (c Cookie) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	b.WriteByte('=')
	b.WriteString(c.Value)
	if c.Path != "" {
		b.WriteString("; Path=")
		b.WriteString(c.Path)
	}
	if c.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(c.Domain)
	}
	if c.MaxAge > 0 {
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(c.MaxAge))
	} else if c.MaxAge < 0 {
		b.WriteString("; Max-Age=0")
	}
	if c.Expires != "" {
		b.WriteString("; Expires=")
		b.WriteString(c.Expires)
	}
	if c.Secure {
		b.WriteString("; Secure")
	}
	if c.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	switch c.SameSite {
	case SameSiteStrict:
		b.WriteString("; SameSite=Strict")
	case SameSiteLax:
		b.WriteString("; SameSite=Lax")
	case SameSiteNone:
		b.WriteString("; SameSite=None")
	}
	return b.String()
}
