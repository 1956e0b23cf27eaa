package wasibin

import (
	"errors"
	"os"
	"runtime/debug"
	"strconv"
)

// Handler answers one request. A returned error becomes an error response
// (see [Dispatch]).
type Handler func(req *Request) (*Response, error)

// HTTPError is an error meant for the client: its status and message are
// sent as they are (400 "name is required"), where any other error becomes
// a bare 500.
//
//	name, ok := req.Query().Get("name")
//	if !ok {
//		return nil, &wasibin.HTTPError{Status: 400, Message: "name is required"}
//	}
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return strconv.Itoa(e.Status) + " " + e.Message }

// Run runs handler on the request this process was started for and writes
// its response to stdout in one write: the whole main of a plugin.
//
// A handler error or panic becomes an error response (see [Dispatch]); the
// process still exits 0 with a complete CGI response, so the host never has
// to guess. Only a failing stdout (the host went away) exits 1.
func Run(handler Handler) {
	var resp *Response
	req, err := ReadRequest()
	if err != nil {
		resp = errorResponse(err)
	} else {
		resp = Dispatch(req, handler)
	}
	// Valid either way: Dispatch checked the handler's response, and the
	// answer to a RequestError is a plain text error.
	if _, err := os.Stdout.Write(resp.encode()); err != nil {
		os.Stderr.WriteString("writing the response failed: " + err.Error() + "\n")
		os.Exit(1)
	}
}

// Dispatch calls handler and returns the response [Run] would write: an
// error becomes an error response ([HTTPError], [FormError] and
// [RequestError] keep their status and message, anything else is a 500 whose
// cause goes to stderr, the server log, and never to the client); a panic is
// a 500 with its stack on stderr; a response that cannot be written (a
// header with CR/LF, an invalid cookie) is a 500, its reason on stderr. Use
// it to test handlers natively.
func Dispatch(req *Request, handler Handler) (resp *Response) {
	defer func() {
		if p := recover(); p != nil {
			os.Stderr.WriteString("handler panicked: " + panicText(p) + "\n" + string(debug.Stack()))
			resp = Error(500, "Internal Server Error")
		}
	}()
	resp, err := handler(req)
	if err != nil {
		resp = errorResponse(err)
	} else if resp == nil {
		os.Stderr.WriteString("handler returned neither a response nor an error\n")
		return Error(500, "Internal Server Error")
	}
	// An HTTPError's status is checked here too.
	if err := resp.Validate(); err != nil {
		os.Stderr.WriteString("handler returned an invalid response: " + err.Error() + "\n")
		return Error(500, "Internal Server Error")
	}
	return resp
}

// errorResponse answers a handler's error: client mistakes the package
// knows about keep their status and message, anything else is a 500.
func errorResponse(err error) *Response {
	var httpErr *HTTPError
	if errors.As(err, &httpErr) {
		return Error(httpErr.Status, httpErr.Message)
	}
	var formErr *FormError
	if errors.As(err, &formErr) {
		return Error(formErr.StatusCode(), formErr.Error())
	}
	var reqErr *RequestError
	if errors.As(err, &reqErr) && reqErr.Status < 500 {
		return Error(reqErr.Status, reqErr.Error())
	}
	os.Stderr.WriteString("handler failed: " + err.Error() + "\n")
	return Error(500, "Internal Server Error")
}

func panicText(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return "(a value that is not an error or a string)"
}
