package wasibin

import (
	"strconv"
	"strings"
)

// DefaultContentType is the body type of a response that sets none, so that
// every document response carries the Content-Type RFC 3875 §6.3.1 requires.
const DefaultContentType = "text/plain; charset=utf-8"

// Response is the HTTP response a handler returns and its CGI encoding
// (RFC 3875 §6): a Status line, header lines, a blank line, the body.
//
// It is built with a constructor for the common shapes and With* methods for
// the rest (each changes the response and returns it); nothing is written
// until [Response.CGI] or [Run], which refuse a response that would not
// survive the trip through the CGI header block:
//
//	wasibin.HTML("<h1>Created</h1>").
//		WithStatus(201).
//		WithHeader("Cache-Control", "no-store").
//		WithCookie(wasibin.Cookie{Name: "seen", Value: "1", Path: "/"})
type Response struct {
	status  int
	headers []Pair
	body    []byte
	// deferred is a mistake found while building (an invalid cookie, a
	// redirect status that is not one), reported by Validate so the
	// builder methods can stay chainable.
	deferred error
	// localRedirect: Location is a path the host serves instead (no
	// Status line, no body).
	localRedirect bool
}

// ResponseError says why a [Response] cannot be written as a CGI response.
type ResponseError struct {
	Reason string
}

func (e *ResponseError) Error() string { return e.Reason }

// NewResponse returns an empty response with status; without a body type it
// is sent as [DefaultContentType].
func NewResponse(status int) *Response {
	return &Response{status: status}
}

// Text is a 200 with body as text/plain; charset=utf-8.
func Text(body string) *Response {
	return Bytes(DefaultContentType, []byte(body))
}

// HTML is a 200 with body as text/html; charset=utf-8. Escape what came from
// the request with [EscapeHTML].
func HTML(body string) *Response {
	return Bytes("text/html; charset=utf-8", []byte(body))
}

// Bytes is a 200 with any body and type (an image, a download).
func Bytes(contentType string, body []byte) *Response {
	return NewResponse(200).WithHeader("Content-Type", contentType).WithBody(body)
}

// Error is a text response with an error status and a short message: 404,
// 400, 405... The message is shown to the client, so keep internals out of it.
func Error(status int, message string) *Response {
	return Text(message + "\n").WithStatus(status)
}

// NotFound is 404 Not Found.
func NotFound() *Response {
	return Error(404, "Not Found")
}

// MethodNotAllowed is 405 with the Allow header listing what the handler
// does accept.
func MethodNotAllowed(allowed ...string) *Response {
	return Error(405, "Method Not Allowed").WithHeader("Allow", strings.Join(allowed, ", "))
}

// RedirectLocal asks the host to serve path (an absolute path on this
// server, with an optional query) instead, as a GET, without a round trip to
// the client: RFC 3875's local redirect.
func RedirectLocal(path string) *Response {
	r := NewResponse(200).WithHeader("Location", escapeLocation(path))
	r.localRedirect = true
	return r
}

// Redirect is 302 Found to url (absolute, or a path on this server); the
// browser follows it.
func Redirect(url string) *Response {
	return RedirectWith(302, url)
}

// SeeOther is 303 See Other to url: the answer to a POST, so that reloading
// the next page does not resubmit the form.
func SeeOther(url string) *Response {
	return RedirectWith(303, url)
}

// RedirectWith is a client redirect with a chosen status: 301, 302, 303, 307
// or 308. Spaces, controls and non-ASCII in url are percent-encoded; another
// status is refused by [Response.Validate].
func RedirectWith(status int, url string) *Response {
	r := NewResponse(status).WithHeader("Location", escapeLocation(url))
	switch status {
	case 301, 302, 303, 307, 308:
	default:
		r.deferred = &ResponseError{"status " + strconv.Itoa(status) + " is not a redirect"}
	}
	return r
}

// WithStatus replaces the status code.
func (r *Response) WithStatus(status int) *Response {
	r.status = status
	return r
}

// WithHeader sets header name to value, replacing any earlier values of
// that name (case-insensitive).
func (r *Response) WithHeader(name, value string) *Response {
	kept := r.headers[:0]
	for _, h := range r.headers {
		if !strings.EqualFold(h.Name, name) {
			kept = append(kept, h)
		}
	}
	r.headers = append(kept, Pair{name, value})
	return r
}

// AppendHeader adds one more value for header name, keeping earlier ones
// (several Link or Vary lines). Content-Type and Location exist once, so for
// them it replaces.
func (r *Response) AppendHeader(name, value string) *Response {
	if strings.EqualFold(name, "content-type") || strings.EqualFold(name, "location") {
		return r.WithHeader(name, value)
	}
	r.headers = append(r.headers, Pair{name, value})
	return r
}

// WithCookie adds a Set-Cookie header; call it once per cookie. A cookie
// that [Cookie.Validate] rejects makes the response invalid.
func (r *Response) WithCookie(c Cookie) *Response {
	if err := c.Validate(); err != nil && r.deferred == nil {
		r.deferred = err
	}
	r.headers = append(r.headers, Pair{"Set-Cookie", c.String()})
	return r
}

// WithBody replaces the body.
func (r *Response) WithBody(body []byte) *Response {
	r.body = body
	return r
}

// WithText replaces the body with text.
func (r *Response) WithText(body string) *Response {
	r.body = []byte(body)
	return r
}

// Status returns the status code.
func (r *Response) Status() int { return r.status }

// Header returns the first value of header name (case-insensitive).
func (r *Response) Header(name string) (string, bool) {
	for _, h := range r.headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Headers returns every header in the order it will be written.
func (r *Response) Headers() []Pair { return r.headers }

// Body returns the body.
func (r *Response) Body() []byte { return r.body }

// Validate reports whether the response can be written: status in
// 200..599, header names RFC 9110 tokens and never Status, values free of
// control characters (CR, LF, NUL, ...), cookies and Location valid.
func (r *Response) Validate() error {
	if r.deferred != nil {
		return r.deferred
	}
	if r.status < 200 || r.status > 599 {
		return &ResponseError{"status " + strconv.Itoa(r.status) + " is not a final HTTP status (200..=599)"}
	}
	for _, h := range r.headers {
		if !isToken(h.Name) {
			return &ResponseError{"invalid header name " + strconv.Quote(h.Name)}
		}
		if strings.EqualFold(h.Name, "status") {
			return &ResponseError{"header " + strconv.Quote(h.Name) + " is reserved: use WithStatus"}
		}
		for i := 0; i < len(h.Value); i++ {
			if b := h.Value[i]; (b < 0x20 && b != '\t') || b == 0x7f {
				return &ResponseError{"header " + strconv.Quote(h.Name) +
					" has a control character (CR, LF, NUL, ...) in its value"}
			}
		}
		if strings.EqualFold(h.Name, "location") {
			bad := h.Value == "" || (r.localRedirect &&
				(h.Value[0] != '/' || strings.HasPrefix(h.Value, "//")))
			for i := 0; i < len(h.Value) && !bad; i++ {
				bad = h.Value[i] <= 0x20 || h.Value[i] >= 0x7f
			}
			if bad {
				return &ResponseError{"invalid Location " + strconv.Quote(h.Value)}
			}
		}
	}
	return nil
}

// CGI returns the whole CGI response, header block and body, as the bytes
// [Run] writes; nothing when Validate fails.
func (r *Response) CGI() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r.encode(), nil
}

// encode lays out a validated response in one buffer.
func (r *Response) encode() []byte {
	body := r.body
	if r.localRedirect {
		// The host ignores a local redirect's body (RFC 3875 §6.2.2).
		body = nil
	}
	size := 64 + len(DefaultContentType) + len(body)
	for _, h := range r.headers {
		size += len(h.Name) + len(h.Value) + 3
	}
	out := make([]byte, 0, size)
	if !r.localRedirect {
		out = append(out, "Status: "...)
		out = strconv.AppendInt(out, int64(r.status), 10)
		if reason := reasonPhrase(r.status); reason != "" {
			out = append(out, ' ')
			out = append(out, reason...)
		}
		out = append(out, '\n')
		_, hasType := r.Header("Content-Type")
		_, hasLocation := r.Header("Location")
		if !hasType && !hasLocation && r.status != 204 && r.status != 205 && r.status != 304 {
			out = append(out, "Content-Type: "+DefaultContentType+"\n"...)
		}
	}
	for _, h := range r.headers {
		out = append(out, h.Name...)
		out = append(out, ": "...)
		out = append(out, h.Value...)
		out = append(out, '\n')
	}
	out = append(out, '\n')
	return append(out, body...)
}

// isToken is RFC 9110 §5.6.2: the characters of a header or cookie name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// escapeLocation percent-encodes what may not appear in a Location value
// (spaces, controls, non-ASCII) and leaves the rest, including existing %XX,
// alone: what browsers do with a URL typed into the address bar.
func escapeLocation(url string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(url); i++ {
		if c := url[i]; c > 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// reasonPhrase is the standard reason phrase, for a readable Status line;
// the host uses its own phrase for codes missing here.
func reasonPhrase(status int) string {
	switch status {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 413:
		return "Content Too Large"
	case 415:
		return "Unsupported Media Type"
	case 418:
		return "I'm a teapot"
	case 422:
		return "Unprocessable Content"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	}
	return ""
}
