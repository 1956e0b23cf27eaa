package wasibin

import (
	"bytes"
	"errors"
	"testing"
)

const ct = "multipart/form-data; boundary=XyZ"

func multipartBody(parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--XyZ\r\n" + p + "\r\n")
	}
	b.WriteString("--XyZ--\r\n")
	return b.Bytes()
}

func TestUrlencodedForm(t *testing.T) {
	f, err := ParseForm("application/x-www-form-urlencoded; charset=UTF-8", []byte("firstname=Ada&x=1+2"))
	if err != nil || f.Value("firstname") != "Ada" || f.Value("x") != "1 2" || len(f.Files) != 0 {
		t.Fatal(f, err)
	}
}

func TestMultipartFieldsAndFiles(t *testing.T) {
	b := multipartBody(
		"Content-Disposition: form-data; name=\"firstname\"\r\n\r\nAda",
		"Content-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n",
		"content-disposition: form-data; name=\"bin\"; filename=\"\"\r\n\r\n",
		"Content-Disposition: form-data; name=\"raw\"; filename=\"r\"\r\n\r\n\x00\xff--XyZ",
	)
	f, err := ParseForm(ct, b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Value("firstname") != "Ada" {
		t.Error(f.Fields)
	}
	up := f.File("upload")
	if up == nil || up.Filename != "notes.txt" || up.ContentType != "text/plain" || string(up.Data) != "line 1\r\nline 2\r\n" {
		t.Errorf("%+v", up)
	}
	bin := f.File("bin")
	if bin == nil || bin.Filename != "" || bin.ContentType != "application/octet-stream" || len(bin.Data) != 0 {
		t.Errorf("%+v", bin)
	}
	if raw := f.File("raw"); raw == nil || string(raw.Data) != "\x00\xff--XyZ" {
		t.Errorf("%+v", raw)
	}
	if f.File("firstname") != nil || f.Fields.Has("upload") {
		t.Error("files and fields mixed up")
	}
}

func TestMultipartPreambleQuotedBoundaryAndPadding(t *testing.T) {
	b := []byte("preamble\r\n--a b  \r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--a b--")
	f, err := ParseForm(`Multipart/Form-Data; Boundary="a b"`, b)
	if err != nil || f.Value("x") != "1" {
		t.Fatal(f, err)
	}
}

func TestHeaderParams(t *testing.T) {
	mt, p := parseHeaderParams(`Multipart/Form-Data; Boundary="a b\"c"; x=1`)
	if mt != "multipart/form-data" || p.Value("boundary") != `a b"c` || p.Value("x") != "1" {
		t.Error(mt, p)
	}
	_, p = parseHeaderParams(`form-data; name="a;b"; filename="c.txt"`)
	if v, _ := headerParam(p, "name"); v != "a;b" {
		t.Error(v)
	}
	_, p = parseHeaderParams("attachment; filename=x; filename*=UTF-8''%E2%82%AC.txt")
	if v, _ := headerParam(p, "filename"); v != "€.txt" {
		t.Error(v)
	}
	mt, p = parseHeaderParams(";;=;\"; a=\"unterminated")
	if v, _ := headerParam(p, "a"); mt != "" || v != "unterminated" {
		t.Error(mt, p)
	}
}

func TestMalformedMultipart(t *testing.T) {
	cases := map[string]struct {
		contentType string
		body        string
	}{
		"no boundary":         {"multipart/form-data", "x"},
		"empty boundary":      {"multipart/form-data; boundary=", "x"},
		"boundary too long":   {"multipart/form-data; boundary=" + string(bytes.Repeat([]byte("a"), 71)), "x"},
		"bad boundary char":   {"multipart/form-data; boundary=a\"b", "x"},
		"no opening boundary": {ct, "nothing here"},
		"no closing":          {ct, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv"},
		"no CRLF":             {ct, "--XyZx"},
		"no disposition":      {ct, "--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--"},
		"no headers":          {ct, "--XyZ\r\n\r\nv\r\n--XyZ--"},
		"headers not ended":   {ct, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n--XyZ--"},
		"no colon":            {ct, "--XyZ\r\nContent-Disposition form-data\r\n\r\nv\r\n--XyZ--"},
		"not form-data":       {ct, "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--"},
		"no name":             {ct, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--"},
		"headers not UTF-8":   {ct, "--XyZ\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--XyZ--"},
	}
	for what, c := range cases {
		_, err := ParseForm(c.contentType, []byte(c.body))
		var formErr *FormError
		if !errors.As(err, &formErr) || formErr.StatusCode() != 400 {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err := ParseForm("application/json", []byte("{}"))
	var formErr *FormError
	if !errors.As(err, &formErr) || formErr.StatusCode() != 415 {
		t.Error(err)
	}
	if f, err := ParseForm("application/json", nil); err != nil || len(f.Fields) != 0 {
		t.Error(err)
	}
}

// FuzzParseForm: the parsers never panic, and a file that does not contain
// the delimiter comes back byte for byte (testdata/fuzz holds the inputs
// that once failed). `go test` runs the seeds;
// `go test -fuzz FuzzParseForm` searches further.
func FuzzParseForm(f *testing.F) {
	f.Add(ct, multipartBody("Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue"))
	f.Add(ct, []byte("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n\r\n--XyZ\r\n"))
	f.Add(ct, []byte("--XyZ\r\n\r\n\r\n--XyZ--"))
	f.Add("multipart/form-data; boundary=\"", []byte("--\r\n"))
	f.Add("application/x-www-form-urlencoded", []byte("a=%&%%=+&=&&b=%zz"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		_, _ = ParseForm(contentType, body)
		_ = ParseParams(string(body))
		_ = parseCookieHeader(string(body))
		// Data holding the delimiter, or opening with the end of one (the
		// blank line after the part's headers supplies the CRLF), cannot
		// come back whole: that is what the boundary is for.
		if bytes.Contains(append([]byte("\r\n"), body...), []byte("\r\n--XyZ")) {
			return
		}
		wrapped := append([]byte("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"d.bin\"\r\n\r\n"), body...)
		wrapped = append(wrapped, "\r\n--XyZ--\r\n"...)
		form, err := ParseForm(ct, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if got := form.File("f").Data; !bytes.Equal(got, body) {
			t.Fatalf("file %q came back as %q", body, got)
		}
	})
}
