package wasibin

import (
	"bytes"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest body [ReadRequest] accepts (16 MiB): a larger
// CONTENT_LENGTH answers 413 without reading stdin, and a body without one
// (read to end of file) answers 413 once it passes the limit. The host bounds
// the body too (10 MiB by default, max_body_kb in a sidecar); raise this
// before [Run] for a plugin configured for more.
var MaxBody int64 = 16 << 20

// maxPreallocation is the most body bytes reserved up front, whatever
// CONTENT_LENGTH claims: the buffer still grows to the real size, but a
// lying length cannot make the guest allocate memory the body never fills.
const maxPreallocation = 1 << 20

// Request is one HTTP request as a CGI program receives it (RFC 3875 §4):
// meta-variables and the body, read once at start-up.
//
// Parsed views (query, cookies, form) are computed on first use and kept,
// so a handler pays only for what it reads.
type Request struct {
	vars map[string]string
	body []byte

	query   Params
	queryOK bool

	cookies   Params
	cookiesOK bool

	form    *Form
	formErr error
	formOK  bool
}

// RequestError says why the request could not be read from the environment
// and stdin.
type RequestError struct {
	// Status answers it: 400 for a broken request, 413 for a body over
	// MaxBody, 500 when reading stdin failed.
	Status int
	Reason string
}

func (e *RequestError) Error() string { return e.Reason }

// StatusCode is the status that answers the error.
func (e *RequestError) StatusCode() int { return e.Status }

// ReadRequest reads the request the host handed this process: the
// environment and the body on stdin, as [NewRequest] reads it.
func ReadRequest() (*Request, error) {
	env := os.Environ()
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		// A name may start with '=' (as in os.Getenv); the first '=' after
		// the first byte ends it.
		if len(kv) > 0 {
			if eq := strings.IndexByte(kv[1:], '='); eq >= 0 {
				vars[kv[:eq+1]] = kv[eq+2:]
			}
		}
	}
	return NewRequest(vars, os.Stdin)
}

// NewRequest reads a request from explicit CGI variables and a body stream,
// as [ReadRequest] does from the process: the body is exactly CONTENT_LENGTH
// bytes of stdin, none when the variable is empty, and all of stdin to end
// of file when it is absent. The host streams a chunked upload that way
// (with HTTP_TRANSFER_ENCODING=chunked, as Apache's mod_cgi does) and gives
// a request without a body an empty stdin.
func NewRequest(vars map[string]string, stdin io.Reader) (*Request, error) {
	v, announced := vars["CONTENT_LENGTH"]
	if !announced {
		body, err := readToEnd(stdin)
		if err != nil {
			return nil, err
		}
		return &Request{vars: vars, body: body}, nil
	}
	var length int64
	if v = strings.TrimSpace(v); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		switch {
		case err != nil && !isDigits(v):
			return nil, &RequestError{400, "invalid CONTENT_LENGTH " + strconv.Quote(v)}
		case err != nil || int64(n) > MaxBody:
			return nil, &RequestError{413, "request body of " + v + " bytes is over the limit of " +
				strconv.FormatInt(MaxBody, 10)}
		}
		length = int64(n)
	}
	req := &Request{vars: vars}
	if length > 0 {
		var buf bytes.Buffer
		buf.Grow(int(min(length, maxPreallocation)))
		got, err := io.CopyN(&buf, stdin, length)
		if err != nil && err != io.EOF {
			return nil, &RequestError{500, "reading the request body: " + err.Error()}
		}
		if got != length {
			return nil, &RequestError{400, "request body truncated: CONTENT_LENGTH is " +
				strconv.FormatInt(length, 10) + ", stdin gave " + strconv.FormatInt(got, 10) + " bytes"}
		}
		req.body = buf.Bytes()
	}
	return req, nil
}

// readToEnd reads a body sent without CONTENT_LENGTH: stdin to end of file,
// a 413 once it passes MaxBody (one byte more is read to know).
func readToEnd(stdin io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, stdin, MaxBody+1)
	if err != nil && err != io.EOF {
		return nil, &RequestError{500, "reading the request body: " + err.Error()}
	}
	if got > MaxBody {
		return nil, &RequestError{413, "request body is over the limit of " + strconv.FormatInt(MaxBody, 10)}
	}
	return buf.Bytes(), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Method is REQUEST_METHOD; GET when absent (a plugin run by hand).
func (r *Request) Method() string {
	if m := r.vars["REQUEST_METHOD"]; m != "" {
		return m
	}
	return "GET"
}

// ScriptName is SCRIPT_NAME: the route this plugin is mounted on (/api/users).
func (r *Request) ScriptName() string { return r.vars["SCRIPT_NAME"] }

// PathInfo is PATH_INFO: the decoded rest of the path below the route (/42),
// empty for the route itself.
func (r *Request) PathInfo() string { return r.vars["PATH_INFO"] }

// Path is the decoded request path: SCRIPT_NAME followed by PATH_INFO.
func (r *Request) Path() string { return r.ScriptName() + r.PathInfo() }

// QueryString is QUERY_STRING exactly as the client sent it, still encoded.
func (r *Request) QueryString() string { return r.vars["QUERY_STRING"] }

// Query returns the decoded query parameters.
func (r *Request) Query() Params {
	if !r.queryOK {
		r.query, r.queryOK = ParseParams(r.QueryString()), true
	}
	return r.query
}

// Header returns request header name, case-insensitive ("User-Agent"), from
// its HTTP_* variable (or CONTENT_TYPE / CONTENT_LENGTH). Repeated headers
// arrive joined by the host with ", " (cookies with "; ").
func (r *Request) Header(name string) (string, bool) {
	key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if key != "CONTENT_TYPE" && key != "CONTENT_LENGTH" {
		key = "HTTP_" + key
	}
	v, ok := r.vars[key]
	return v, ok
}

// Headers returns every request header as a lower-case name
// (accept-language) and its value, sorted by name, rebuilt from the
// variables: the host never passes a header whose name has '_', so the
// mapping back is exact.
func (r *Request) Headers() []Pair {
	var out []Pair
	for k, v := range r.vars {
		name := k
		if k != "CONTENT_TYPE" && k != "CONTENT_LENGTH" {
			if !strings.HasPrefix(k, "HTTP_") {
				continue
			}
			name = k[len("HTTP_"):]
		}
		out = append(out, Pair{strings.ToLower(strings.ReplaceAll(name, "_", "-")), v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ContentType is CONTENT_TYPE, the media type of the body ("" without one).
func (r *Request) ContentType() string { return r.vars["CONTENT_TYPE"] }

// Cookie returns the value of cookie name from the Cookie header, as sent
// (not decoded: [DecodeComponent] undoes [EncodeComponent]).
func (r *Request) Cookie(name string) (string, bool) {
	return r.Cookies().Get(name)
}

// Cookies returns every cookie in the order the browser sent them.
func (r *Request) Cookies() Params {
	if !r.cookiesOK {
		r.cookies, r.cookiesOK = parseCookieHeader(r.vars["HTTP_COOKIE"]), true
	}
	return r.cookies
}

// Body returns the body bytes.
func (r *Request) Body() []byte { return r.body }

// Text returns the body as UTF-8 text; a body that is not is the client's
// mistake, so the error answers 400 when returned from a handler.
func (r *Request) Text() (string, error) {
	if !utf8.Valid(r.body) {
		return "", &HTTPError{400, "the request body is not UTF-8 text"}
	}
	return string(r.body), nil
}

// Form returns the fields and files of an application/x-www-form-urlencoded
// or multipart/form-data body (an empty form when there is no body).
// Returned from a handler, the error (a *[FormError]) answers 400 or 415.
func (r *Request) Form() (*Form, error) {
	if !r.formOK {
		r.form, r.formErr = ParseForm(r.ContentType(), r.body)
		r.formOK = true
	}
	return r.form, r.formErr
}

// RemoteAddr is REMOTE_ADDR, the client's IP address.
func (r *Request) RemoteAddr() string { return r.vars["REMOTE_ADDR"] }

// Var returns any CGI variable by its exact name (SERVER_NAME, X_FULL_URL,
// variables from the plugin's sidecar).
func (r *Request) Var(name string) (string, bool) {
	v, ok := r.vars[name]
	return v, ok
}

// Vars returns every variable, sorted by name: what an echo handler prints.
func (r *Request) Vars() []Pair {
	out := make([]Pair, 0, len(r.vars))
	for k, v := range r.vars {
		out = append(out, Pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TestRequest builds the [Request] a wasibin host would hand a plugin, for
// native unit tests of handlers:
//
//	req := wasibin.NewTestRequest("POST", "/form").
//		Header("Content-Type", "application/x-www-form-urlencoded").
//		Body("firstname=Ada").
//		Build()
//	resp := wasibin.Dispatch(req, handle)
type TestRequest struct {
	vars       map[string]string
	path       string
	scriptName *string
	body       []byte
}

// NewTestRequest starts a request for method and target (/path?query).
func NewTestRequest(method, target string) *TestRequest {
	path, query, _ := strings.Cut(target, "?")
	return &TestRequest{
		vars: map[string]string{
			"GATEWAY_INTERFACE": "CGI/1.1",
			"SERVER_PROTOCOL":   "HTTP/1.1",
			"SERVER_SOFTWARE":   "wasibin",
			"SERVER_NAME":       "localhost",
			"SERVER_PORT":       "80",
			"REMOTE_ADDR":       "127.0.0.1",
			"REMOTE_PORT":       "40000",
			"REQUEST_METHOD":    method,
			"QUERY_STRING":      query,
		},
		path: path,
	}
}

// ScriptName sets the route the plugin is mounted on; the rest of the path
// becomes PATH_INFO. Without it the whole path is SCRIPT_NAME.
func (b *TestRequest) ScriptName(scriptName string) *TestRequest {
	b.scriptName = &scriptName
	return b
}

// Header adds a request header as the host would: Content-Type to
// CONTENT_TYPE, others to HTTP_*, a repeat joined with ", " ("; " for
// cookies).
func (b *TestRequest) Header(name, value string) *TestRequest {
	key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if key != "CONTENT_TYPE" {
		key = "HTTP_" + key
	}
	sep := ", "
	if key == "HTTP_COOKIE" {
		sep = "; "
	}
	if old, ok := b.vars[key]; ok {
		value = old + sep + value
	}
	b.vars[key] = value
	return b
}

// Var sets any variable, e.g. one from the plugin's sidecar.
func (b *TestRequest) Var(name, value string) *TestRequest {
	b.vars[name] = value
	return b
}

// Body sets the request body; CONTENT_LENGTH follows it.
func (b *TestRequest) Body(body string) *TestRequest {
	b.body = []byte(body)
	return b
}

// BodyBytes sets a body that need not be text.
func (b *TestRequest) BodyBytes(body []byte) *TestRequest {
	b.body = body
	return b
}

// Build returns the finished request.
func (b *TestRequest) Build() *Request {
	vars := make(map[string]string, len(b.vars)+3)
	for k, v := range b.vars {
		vars[k] = v
	}
	path := PercentDecode(b.path)
	script, info := path, ""
	if b.scriptName != nil && strings.HasPrefix(path, *b.scriptName) {
		script, info = *b.scriptName, path[len(*b.scriptName):]
	}
	vars["SCRIPT_NAME"] = script
	vars["PATH_INFO"] = info
	if len(b.body) > 0 {
		vars["CONTENT_LENGTH"] = strconv.Itoa(len(b.body))
	}
	return &Request{vars: vars, body: b.body}
}
