// Package wasibin writes wasibin handlers in Go.
//
// A wasibin plugin is a WASI preview 1 command: the request arrives as CGI
// variables (RFC 3875) in the environment and the body on stdin, the response
// leaves on stdout as a CGI header block, a blank line and the body. This
// package turns that contract into a [Request] and a [Response], so a handler
// is a function:
//
//	package main
//
//	import "example.invalid/wasibin"
//
//	func handle(req *wasibin.Request) (*wasibin.Response, error) {
//		name, ok := req.Query().Get("name")
//		if !ok {
//			name = "world"
//		}
//		return wasibin.Text("Hello, " + name + "!\n"), nil
//	}
//
//	func main() { wasibin.Run(handle) }
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -ldflags=-s -trimpath -o hello.wasm .
//
// and copy hello.wasm into plugins/. The package is the standard library
// only and builds natively too, so handlers are unit-tested with
// [NewTestRequest] and [Dispatch] under plain `go test`.
//
// What it gives: the decoded query, request headers and cookies, urlencoded
// and multipart form bodies with file uploads ([Request.Form]), a body read of
// exactly CONTENT_LENGTH bytes (or to end of file without one, a chunked
// upload the host streams) and no more than [MaxBody]; responses built
// with [Text], [HTML], [Bytes], [Error], [MethodNotAllowed], the redirects
// and [Response.WithCookie], checked before a byte is written: a header name
// that is not a token or a value with CR, LF, NUL or another control
// character is refused (the response becomes a 500 and the reason goes to
// stderr, the server log) instead of being emitted. [Run] writes the whole
// response to stdout in one write.
//
// # Why not net/http/cgi
//
// The standard library's net/http/cgi has the child side of CGI
// (cgi.Serve(handler) turns the environment into an *http.Request) and it
// does run under GOOS=wasip1. It is not used here, for three reasons,
// checked with Go 1.27.3:
//
//   - size and start-up: a hello on cgi.Serve is 5.9 MB of wasm against
//     2.3 MB with this package, because it links all of net/http (TLS,
//     HTTP/2, the client). The server's first compile of it took 7.7 s
//     against 3.1 s, and every request runs the Go runtime's start-up and
//     the initialisers of everything linked in: 0.87-0.94 ms of server CPU
//     per request against 0.31 ms (a Go program that only prints its answer
//     also costs 0.31 ms, and a C or Rust hello 0.05 ms).
//   - headers: net/http/cgi writes a header value with CR or LF after
//     replacing them with spaces, and silently drops a header whose name is
//     not a token; this package refuses such a response (a 500, the reason
//     in the log), as the Rust, C, Zig and AssemblyScript SDKs do.
//   - uploads: (*http.Request).ParseMultipartForm spills large files to
//     os.TempDir, which a sandboxed plugin does not have; here the body is
//     already in memory, bounded by the host, and files are slices of it.
//
// A handler that wants net/http's types can still use net/http/cgi directly:
// wasibin speaks plain CGI.
package wasibin
