package wasibin

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDecodesPlusAndEscapes(t *testing.T) {
	cases := []struct{ in, component, path string }{
		{"a+b%20c%2B", "a b c+", "a+b c+"},
		{"/a+b%2Fc", "/a b/c", "/a+b/c"},
		{"100%", "100%", "100%"},
		{"%zz%4", "%zz%4", "%zz%4"},
		{"%4", "%4", "%4"},
		{"%41", "A", "A"},
		{"%FFok", "\uFFFDok", "\uFFFDok"},
		{"", "", ""},
	}
	for _, c := range cases {
		if got := DecodeComponent(c.in); got != c.component {
			t.Errorf("DecodeComponent(%q) = %q, want %q", c.in, got, c.component)
		}
		if got := PercentDecode(c.in); got != c.path {
			t.Errorf("PercentDecode(%q) = %q, want %q", c.in, got, c.path)
		}
	}
}

func TestEncodeComponent(t *testing.T) {
	if got := EncodeComponent("Ada L/é"); got != "Ada%20L%2F%C3%A9" {
		t.Fatal(got)
	}
	if got := EncodeComponent("<script>Ada L"); got != "%3Cscript%3EAda%20L" {
		t.Fatal(got)
	}
	for _, s := range []string{"", "a b", "x=y&z", "%41", "€ and ü", "\x00\r\n"} {
		if got := DecodeComponent(EncodeComponent(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

func TestParamsKeepOrderRepeatsAndSkipEmptyPieces(t *testing.T) {
	p := ParseParams("&b=2&&a=1&b=3&empty&k=a=b&")
	want := Params{{"b", "2"}, {"a", "1"}, {"b", "3"}, {"empty", ""}, {"k", "a=b"}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("%q", p)
	}
	if v, ok := p.Get("b"); !ok || v != "2" {
		t.Error("Get b")
	}
	if got := p.GetAll("b"); !reflect.DeepEqual(got, []string{"2", "3"}) {
		t.Error("GetAll b", got)
	}
	if !p.Has("empty") || p.Has("c") {
		t.Error("Has")
	}
	if ParseParams("") != nil {
		t.Error("empty query")
	}
}

func TestEscapeHTML(t *testing.T) {
	got := EscapeHTML(`<b>Tom & "Jerry" 'x'</b>`)
	if got != "&lt;b&gt;Tom &amp; &quot;Jerry&quot; &#39;x&#39;&lt;/b&gt;" {
		t.Fatal(got)
	}
	if EscapeHTML("plain") != "plain" {
		t.Fatal("plain")
	}
}

func TestCookieHeaderParsesPairsInOrder(t *testing.T) {
	got := parseCookieHeader(`a=1; b="two";c=x=y; junk; =nope;  d = 4 ; e=""`)
	want := Params{{"a", "1"}, {"b", "two"}, {"c", "x=y"}, {"d", "4"}, {"e", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q", got)
	}
}

func TestReadsExactlyContentLength(t *testing.T) {
	req, err := NewRequest(map[string]string{"CONTENT_LENGTH": "5"}, strings.NewReader("helloEXTRA"))
	if err != nil || string(req.Body()) != "hello" {
		t.Fatal(err, req)
	}
	req, err = NewRequest(map[string]string{"CONTENT_LENGTH": ""}, strings.NewReader("ignored"))
	if err != nil || len(req.Body()) != 0 {
		t.Fatal(err)
	}
	req, err = NewRequest(map[string]string{"CONTENT_LENGTH": " 0 "}, strings.NewReader("ignored"))
	if err != nil || len(req.Body()) != 0 {
		t.Fatal(err)
	}
}

func TestReadsAChunkedBodyToEndOfFile(t *testing.T) {
	vars := map[string]string{
		"REQUEST_METHOD":         "POST",
		"CONTENT_TYPE":           "application/x-www-form-urlencoded",
		"HTTP_TRANSFER_ENCODING": "chunked",
	}
	req, err := NewRequest(vars, strings.NewReader("a=1&b=2"))
	if err != nil || string(req.Body()) != "a=1&b=2" {
		t.Fatal(err, req)
	}
	form, err := req.Form()
	if err != nil || form.Value("a") != "1" || form.Value("b") != "2" {
		t.Fatal(err, form)
	}
	// No body: the host gives an empty stdin.
	req, err = NewRequest(map[string]string{"REQUEST_METHOD": "GET"}, strings.NewReader(""))
	if err != nil || len(req.Body()) != 0 {
		t.Fatal(err)
	}
}

func TestRejectsAChunkedBodyOverMaxBody(t *testing.T) {
	defer func(old int64) { MaxBody = old }(MaxBody)
	MaxBody = 7
	chunked := map[string]string{"HTTP_TRANSFER_ENCODING": "chunked"}
	req, err := NewRequest(chunked, strings.NewReader("a=1&b=2"))
	if err != nil || string(req.Body()) != "a=1&b=2" {
		t.Fatal(err, req)
	}
	_, err = NewRequest(chunked, strings.NewReader("a=1&b=22"))
	var reqErr *RequestError
	if !errors.As(err, &reqErr) || reqErr.Status != 413 {
		t.Fatalf("%v, want status 413", err)
	}
	if err.Error() != "request body is over the limit of 7" {
		t.Error(err)
	}
}

func TestReportsAFailingChunkedBody(t *testing.T) {
	_, err := NewRequest(map[string]string{}, iotest.ErrReader(errors.New("the upload stopped")))
	var reqErr *RequestError
	if !errors.As(err, &reqErr) || reqErr.Status != 500 {
		t.Fatalf("%v, want status 500", err)
	}
}

func TestRejectsBadLengths(t *testing.T) {
	cases := []struct {
		length, body string
		status       int
	}{
		{"x", "", 400},
		{"-1", "", 400},
		{"+5", "hello", 400},
		{"10", "short", 400},
		{"18446744073709551616", "", 413},
		{"16777217", "", 413},
	}
	for _, c := range cases {
		_, err := NewRequest(map[string]string{"CONTENT_LENGTH": c.length}, strings.NewReader(c.body))
		var reqErr *RequestError
		if !errors.As(err, &reqErr) || reqErr.Status != c.status {
			t.Errorf("CONTENT_LENGTH %q: %v, want status %d", c.length, err, c.status)
		}
	}
	_, err := NewRequest(map[string]string{"CONTENT_LENGTH": "10"}, strings.NewReader("short"))
	if err.Error() != "request body truncated: CONTENT_LENGTH is 10, stdin gave 5 bytes" {
		t.Error(err)
	}
}

func TestHeadersMapBackFromVariables(t *testing.T) {
	req := NewTestRequest("POST", "/x").
		Header("Content-Type", "text/plain").
		Header("X-Forwarded-For", "a").
		Header("x-forwarded-for", "b").
		Header("Cookie", "a=1").
		Header("Cookie", "b=2").
		Body("hi").
		Build()
	if v, _ := req.Header("x-forwarded-for"); v != "a, b" {
		t.Error(v)
	}
	if v, _ := req.Header("Content-Length"); v != "2" {
		t.Error(v)
	}
	if _, ok := req.Header("Accept"); ok {
		t.Error("Accept")
	}
	if req.ContentType() != "text/plain" {
		t.Error(req.ContentType())
	}
	if got := req.Cookies(); !reflect.DeepEqual(got, Params{{"a", "1"}, {"b", "2"}}) {
		t.Error(got)
	}
	var names []string
	for _, h := range req.Headers() {
		names = append(names, h.Name)
	}
	if !reflect.DeepEqual(names, []string{"content-length", "content-type", "cookie", "x-forwarded-for"}) {
		t.Error(names)
	}
}

func TestPathIsDecodedAndSplit(t *testing.T) {
	req := NewTestRequest("GET", "/api/users/a%20b?q=%41&x").ScriptName("/api/users").Build()
	if req.ScriptName() != "/api/users" || req.PathInfo() != "/a b" || req.Path() != "/api/users/a b" {
		t.Error(req.ScriptName(), req.PathInfo())
	}
	if req.QueryString() != "q=%41&x" || req.Query().Value("q") != "A" {
		t.Error(req.QueryString())
	}
	if req.Method() != "GET" || (&Request{}).Method() != "GET" {
		t.Error("method")
	}
}

func TestReadRequestFromTheEnvironment(t *testing.T) {
	t.Setenv("REQUEST_METHOD", "PUT")
	t.Setenv("HTTP_X_WEIRD", "a=b")
	t.Setenv("CONTENT_LENGTH", "")
	req, err := ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	if req.Method() != "PUT" {
		t.Error(req.Method())
	}
	if v, _ := req.Header("X-Weird"); v != "a=b" {
		t.Error(v)
	}
}

func TestTextAndFormErrors(t *testing.T) {
	req := NewTestRequest("POST", "/x").BodyBytes([]byte{0xff}).Build()
	_, err := req.Text()
	var httpErr *HTTPError
	if !errors.As(err, &httpErr) || httpErr.Status != 400 {
		t.Error(err)
	}
	_, err = req.Form()
	var formErr *FormError
	if !errors.As(err, &formErr) || formErr.StatusCode() != 415 {
		t.Error(err)
	}
	form, err := NewTestRequest("GET", "/x").Build().Form()
	if err != nil || len(form.Fields) != 0 {
		t.Error(err)
	}
}
