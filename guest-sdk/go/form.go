package wasibin

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Form holds the fields and uploaded files of a form body.
//
// Text fields are in Fields for both encodings, so a handler reads
// "firstname" the same way whichever enctype the page used.
type Form struct {
	Fields Params
	Files  []File
}

// Get returns the first value of the text field name.
func (f *Form) Get(name string) (string, bool) {
	return f.Fields.Get(name)
}

// Value returns the first value of the text field name, or "".
func (f *Form) Value(name string) string {
	return f.Fields.Value(name)
}

// File returns the first file uploaded under the field name, or nil.
func (f *Form) File(name string) *File {
	for i := range f.Files {
		if f.Files[i].Name == name {
			return &f.Files[i]
		}
	}
	return nil
}

// File is one file of a multipart/form-data body, held in memory: the host
// has already bounded the request body, so an upload cannot exceed that
// limit. Data is a slice of the request body.
type File struct {
	// Name is the form field it was uploaded under (<input type=file name=...>).
	Name string
	// Filename is the file name the client sent: untrusted text, never a
	// path to open. Empty when the form was submitted without a file.
	Filename string
	// ContentType is the part's Content-Type, application/octet-stream when
	// absent (RFC 7578 §4.4).
	ContentType string
	Data        []byte
}

// FormError says why a form body could not be read. Each is the client's
// fault: [Run] answers it with [FormError.StatusCode] and the message.
type FormError struct {
	// UnsupportedType is the Content-Type of a body that is not a form
	// (answered with 415); empty for a broken form (400).
	UnsupportedType string
	// Reason says what is wrong with a broken form.
	Reason string
}

func (e *FormError) Error() string {
	if e.UnsupportedType != "" {
		return "the body is not a form (Content-Type " + strconv.Quote(e.UnsupportedType) + ")"
	}
	return e.Reason
}

// StatusCode is 415 for a body that is not a form, 400 for a broken one.
func (e *FormError) StatusCode() int {
	if e.UnsupportedType != "" {
		return 415
	}
	return 400
}

var errInvalidBoundary = &FormError{Reason: "multipart body without a valid boundary"}

func malformed(why string) *FormError {
	return &FormError{Reason: "malformed multipart body: " + why}
}

// ParseForm decodes body according to contentType:
// application/x-www-form-urlencoded or multipart/form-data. An empty body is
// an empty form whatever the type, so a GET handler may call it too.
func ParseForm(contentType string, body []byte) (*Form, error) {
	mediaType, params := parseHeaderParams(contentType)
	switch mediaType {
	case "application/x-www-form-urlencoded":
		return &Form{Fields: ParseParams(string(body))}, nil
	case "multipart/form-data":
		boundary, ok := headerParam(params, "boundary")
		if !ok {
			return nil, errInvalidBoundary
		}
		return ParseMultipart(boundary, body)
	}
	if len(body) == 0 {
		return &Form{}, nil
	}
	if contentType == "" {
		// Still 415, with a type the message can show.
		contentType = "(none)"
	}
	return nil, &FormError{UnsupportedType: contentType}
}

// validBoundary is RFC 2046 §5.1.1: 1 to 70 characters from a small set,
// not ending in a space. It also keeps the delimiter search linear: the
// delimiter then has no CR after its first byte.
func validBoundary(b string) bool {
	if len(b) < 1 || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			strings.IndexByte("'()+_,-./:=? ", c) >= 0) {
			return false
		}
	}
	return true
}

// ParseMultipart parses a whole multipart/form-data body (RFC 7578) held in
// memory. Text fields go to Fields (not UTF-8 becomes U+FFFD), parts with a
// filename parameter to Files, their Data a slice of body.
func ParseMultipart(boundary string, body []byte) (*Form, error) {
	if !validBoundary(boundary) {
		return nil, errInvalidBoundary
	}
	delimiter := []byte("\r\n--" + boundary)

	// The first delimiter may open the body without the leading CRLF;
	// anything before it is preamble and ignored.
	var pos int
	if bytes.HasPrefix(body, delimiter[2:]) {
		pos = len(delimiter) - 2
	} else {
		at := bytes.Index(body, delimiter)
		if at < 0 {
			return nil, malformed("no opening boundary")
		}
		pos = at + len(delimiter)
	}

	form := &Form{}
	for {
		rest := body[pos:]
		if bytes.HasPrefix(rest, []byte("--")) {
			return form, nil
		}
		rest = bytes.TrimLeft(rest, " \t")
		if !bytes.HasPrefix(rest, []byte("\r\n")) {
			return nil, malformed("boundary not followed by CRLF")
		}
		rest = rest[2:]
		partStart := len(body) - len(rest)
		partLen := bytes.Index(rest, delimiter)
		if partLen < 0 {
			return nil, malformed("part without closing boundary")
		}
		if err := form.addPart(rest[:partLen:partLen]); err != nil {
			return nil, err
		}
		pos = partStart + partLen + len(delimiter)
	}
}

func (f *Form) addPart(part []byte) error {
	var head, data []byte
	if bytes.HasPrefix(part, []byte("\r\n")) {
		data = part[2:]
	} else {
		end := bytes.Index(part, []byte("\r\n\r\n"))
		if end < 0 {
			return malformed("part headers not ended")
		}
		head, data = part[:end], part[end+4:]
	}
	if !utf8.Valid(head) {
		return malformed("part headers not UTF-8")
	}
	var disposition, contentType string
	haveDisposition, haveType := false, false
	for _, line := range strings.Split(string(head), "\r\n") {
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return malformed("part header line without a colon")
		}
		name, value := line[:colon], strings.TrimSpace(line[colon+1:])
		switch {
		case strings.EqualFold(name, "content-disposition"):
			disposition, haveDisposition = value, true
		case strings.EqualFold(name, "content-type"):
			contentType, haveType = value, true
		}
	}
	if !haveDisposition {
		return malformed("part without Content-Disposition")
	}
	kind, params := parseHeaderParams(disposition)
	if kind != "form-data" {
		return malformed("part disposition is not form-data")
	}
	name, ok := headerParam(params, "name")
	if !ok {
		return malformed("part without a field name")
	}
	if filename, isFile := headerParam(params, "filename"); isFile {
		if !haveType {
			contentType = "application/octet-stream"
		}
		f.Files = append(f.Files, File{Name: name, Filename: filename, ContentType: contentType, Data: data})
	} else {
		f.Fields = append(f.Fields, Pair{name, validUTF8(string(data))})
	}
	return nil
}

// parseHeaderParams splits a structured header value (multipart/form-data;
// boundary="x", form-data; name="f"; filename="a.txt") into its lower-cased
// first item and its name=value parameters, names lower-cased and quoted
// values unescaped (RFC 9110 §5.6.6). Malformed pieces are skipped, never
// fatal: a missing parameter is reported by whoever needed it.
func parseHeaderParams(value string) (string, Params) {
	head, rest := value, ""
	if i := strings.IndexByte(value, ';'); i >= 0 {
		head, rest = value[:i], value[i+1:]
	}
	var params Params
	i := 0
	for i < len(rest) {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == ';') {
			i++
		}
		nameStart := i
		for i < len(rest) && rest[i] != '=' && rest[i] != ';' {
			i++
		}
		name := strings.ToLower(strings.TrimSpace(rest[nameStart:i]))
		if i >= len(rest) || rest[i] == ';' {
			continue
		}
		i++
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
		var v string
		if i < len(rest) && rest[i] == '"' {
			var out []byte
			i++
			for i < len(rest) && rest[i] != '"' {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				out = append(out, rest[i])
				i++
			}
			i++
			v = validUTF8(string(out))
		} else {
			start := i
			for i < len(rest) && rest[i] != ';' {
				i++
			}
			v = strings.TrimSpace(rest[start:i])
		}
		if name != "" {
			params = append(params, Pair{name, v})
		}
	}
	return strings.ToLower(strings.TrimSpace(head)), params
}

// headerParam is the value of parameter name, preferring the RFC 8187
// extended form (filename* holding UTF-8, two quotes and percent-encoded
// text) that carries non-ASCII names.
func headerParam(params Params, name string) (string, bool) {
	if v, ok := params.Get(name + "*"); ok {
		if charset, rest, ok := strings.Cut(v, "'"); ok && strings.EqualFold(charset, "utf-8") {
			if _, encoded, ok := strings.Cut(rest, "'"); ok {
				return PercentDecode(encoded), true
			}
		}
	}
	return params.Get(name)
}
