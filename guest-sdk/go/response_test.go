package wasibin

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func cgi(t *testing.T, r *Response) string {
	t.Helper()
	b, err := r.CGI()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTextResponse(t *testing.T) {
	if got := cgi(t, Text("hi")); got != "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n\nhi" {
		t.Fatalf("%q", got)
	}
}

func TestBuiltResponse(t *testing.T) {
	r := HTML("<h1>Created</h1>").
		WithStatus(201).
		WithHeader("Cache-Control", "no-store").
		WithCookie(Cookie{Name: "seen", Value: "1", Path: "/"})
	want := "Status: 201 Created\nContent-Type: text/html; charset=utf-8\nCache-Control: no-store\nSet-Cookie: seen=1; Path=/\n\n<h1>Created</h1>"
	if got := cgi(t, r); got != want {
		t.Fatalf("%q", got)
	}
}

func TestEmptyResponseGetsDefaultTypeExceptNoContent(t *testing.T) {
	for status, want := range map[int]string{
		418: "Status: 418 I'm a teapot\nContent-Type: text/plain; charset=utf-8\n\n",
		204: "Status: 204 No Content\n\n",
		299: "Status: 299\nContent-Type: text/plain; charset=utf-8\n\n",
	} {
		if got := cgi(t, NewResponse(status)); got != want {
			t.Errorf("%d: %q", status, got)
		}
	}
}

func TestClientRedirects(t *testing.T) {
	if got := cgi(t, SeeOther("/thanks")); got != "Status: 303 See Other\nLocation: /thanks\n\n" {
		t.Errorf("%q", got)
	}
	if v, _ := Redirect("https://e.org/ä").Header("Location"); v != "https://e.org/%C3%A4" {
		t.Error(v)
	}
	if v, _ := Redirect("/x\r\nSet-Cookie: evil=1").Header("Location"); v != "/x%0D%0ASet-Cookie:%20evil=1" {
		t.Error(v)
	}
	if RedirectWith(200, "/x").Validate() == nil {
		t.Error("redirect with 200 accepted")
	}
}

func TestLocalRedirectMustBeAPathAndHasNoBody(t *testing.T) {
	if got := cgi(t, RedirectLocal("/a?b=c").WithText("ignored")); got != "Location: /a?b=c\n\n" {
		t.Errorf("%q", got)
	}
	for _, bad := range []string{"https://e.org/", "//e.org/x", "relative", ""} {
		if RedirectLocal(bad).Validate() == nil {
			t.Errorf("local redirect to %q accepted", bad)
		}
	}
}

func TestHeadersReplaceOrAppend(t *testing.T) {
	r := Text("x").
		WithHeader("content-type", "text/csv").
		AppendHeader("Vary", "Accept").
		AppendHeader("Vary", "Cookie").
		AppendHeader("Content-Type", "text/tab-separated-values").
		WithHeader("X-One", "1").
		WithHeader("x-one", "2")
	want := []Pair{{"Vary", "Accept"}, {"Vary", "Cookie"}, {"Content-Type", "text/tab-separated-values"}, {"x-one", "2"}}
	if !reflect.DeepEqual(r.Headers(), want) {
		t.Fatal(r.Headers())
	}
}

func TestRefusesBadHeadersAndWritesNothing(t *testing.T) {
	cases := map[string]*Response{
		"LF in value":         Text("x").WithHeader("X-A", "a\nb"),
		"CR in value":         Text("x").WithHeader("X-A", "a\rb"),
		"NUL in value":        Text("x").WithHeader("X-A", "a\x00b"),
		"DEL in value":        Text("x").WithHeader("X-A", "a\x7fb"),
		"space in name":       Text("x").WithHeader("Bad Name", "v"),
		"colon in name":       Text("x").WithHeader("X-A:", "v"),
		"empty name":          Text("x").WithHeader("", "v"),
		"Status as a header":  Text("x").WithHeader("Status", "200"),
		"space in Location":   Text("x").WithHeader("Location", "/a b"),
		"empty Location":      Text("x").WithHeader("Location", ""),
		"status 100":          Text("x").WithStatus(100),
		"status 600":          Text("x").WithStatus(600),
		"cookie value":        Text("x").WithCookie(Cookie{Name: "a", Value: "b;c"}),
		"cookie name":         Text("x").WithCookie(Cookie{Name: "a b", Value: "c"}),
		"cookie path":         Text("x").WithCookie(Cookie{Name: "a", Value: "1", Path: "/x;Domain=evil"}),
		"cookie domain":       Text("x").WithCookie(Cookie{Name: "a", Value: "1", Domain: "a\nb"}),
		"cookie CRLF":         Text("x").WithCookie(Cookie{Name: "a", Value: "x\r\nSet-Cookie: evil=1"}),
		"cookie non-ASCII":    Text("x").WithCookie(Cookie{Name: "a", Value: "é"}),
		"cookie empty name":   Text("x").WithCookie(Cookie{Value: "1"}),
		"nul in header name":  Text("x").WithHeader("X\x00", "v"),
		"tab allowed, not VT": Text("x").WithHeader("X-A", "a\tb\vc"),
	}
	for what, r := range cases {
		if b, err := r.CGI(); err == nil || b != nil {
			t.Errorf("%s: not refused: %q", what, b)
		}
		resp := Dispatch(NewTestRequest("GET", "/").Build(), func(*Request) (*Response, error) { return r, nil })
		if resp.Status() != 500 || string(resp.Body()) != "Internal Server Error\n" {
			t.Errorf("%s: dispatch gave %d", what, resp.Status())
		}
	}
	if got := cgi(t, Text("x").WithHeader("X-A", "a\tb")); !strings.Contains(got, "X-A: a\tb\n") {
		t.Errorf("tab refused: %q", got)
	}
}

func TestCookies(t *testing.T) {
	c := Cookie{Name: "session", Value: "abc123", Path: "/", MaxAge: 3600, HTTPOnly: true, SameSite: SameSiteLax}
	if c.String() != "session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax" {
		t.Error(c.String())
	}
	c = Cookie{Name: "id", Value: `"q"`, Domain: "example.com", Expires: "Wed, 21 Oct 2015 07:28:00 GMT", Secure: true, SameSite: SameSiteNone}
	if c.Validate() != nil || c.String() != `id="q"; Domain=example.com; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; SameSite=None` {
		t.Error(c.String())
	}
	if s := (Cookie{Name: "b", MaxAge: -1}).String(); s != "b=; Max-Age=0" {
		t.Error(s)
	}
	got := cgi(t, Text("x").WithCookie(Cookie{Name: "a", Value: "1"}).WithCookie(Cookie{Name: "b", MaxAge: -1}))
	if got != "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\nSet-Cookie: a=1\nSet-Cookie: b=; Max-Age=0\n\nx" {
		t.Errorf("%q", got)
	}
	if s := (Cookie{Name: "firstname", Value: EncodeComponent("<script>Ada L"), Path: "/"}).String(); s != "firstname=%3Cscript%3EAda%20L; Path=/" {
		t.Error(s)
	}
}

func TestErrorHelpers(t *testing.T) {
	r := MethodNotAllowed("GET", "POST")
	if v, _ := r.Header("Allow"); r.Status() != 405 || v != "GET, POST" {
		t.Error(r.Status(), v)
	}
	want := "Status: 405 Method Not Allowed\nContent-Type: text/plain; charset=utf-8\nAllow: GET, POST\n\nMethod Not Allowed\n"
	if got := cgi(t, r); got != want {
		t.Errorf("%q", got)
	}
	if string(NotFound().Body()) != "Not Found\n" {
		t.Error("not found")
	}
}

func TestDispatchAnswersErrors(t *testing.T) {
	req := NewTestRequest("GET", "/").Build()
	cases := []struct {
		err    error
		status int
		body   string
	}{
		{&HTTPError{400, "name is required"}, 400, "name is required\n"},
		{&FormError{UnsupportedType: "text/csv"}, 415, "the body is not a form (Content-Type \"text/csv\")\n"},
		{&RequestError{400, "bad length"}, 400, "bad length\n"},
		{&RequestError{500, "stdin broke"}, 500, "Internal Server Error\n"},
		{errors.New("database password is hunter2"), 500, "Internal Server Error\n"},
		{&HTTPError{99, "not a status"}, 500, "Internal Server Error\n"},
	}
	for _, c := range cases {
		err := c.err
		resp := Dispatch(req, func(*Request) (*Response, error) { return nil, err })
		if resp.Status() != c.status || string(resp.Body()) != c.body {
			t.Errorf("%v: %d %q", c.err, resp.Status(), resp.Body())
		}
	}
	resp := Dispatch(req, func(*Request) (*Response, error) { panic("boom") })
	if resp.Status() != 500 {
		t.Error("panic", resp.Status())
	}
	resp = Dispatch(req, func(*Request) (*Response, error) { return nil, nil })
	if resp.Status() != 500 {
		t.Error("nil response", resp.Status())
	}
}

// FuzzResponseHeader: whatever a handler puts in a header, a response that
// validates has a clean header block.
func FuzzResponseHeader(f *testing.F) {
	f.Add("X-A", "v", 200)
	f.Add("Location", "/x\r\n", 302)
	f.Add("Set-Cookie", "a=\x00", 599)
	f.Add("", "", 0)
	f.Fuzz(func(t *testing.T, name, value string, status int) {
		b, err := Text("body").WithStatus(status).WithHeader(name, value).CGI()
		if err != nil {
			return
		}
		head, _, ok := strings.Cut(string(b), "\n\n")
		if !ok {
			t.Fatalf("no blank line in %q", b)
		}
		for _, line := range strings.Split(head, "\n") {
			if !strings.Contains(line, ": ") || strings.ContainsAny(line, "\r\x00") {
				t.Fatalf("bad header line %q", line)
			}
		}
	})
}
