"""wasibin: write wasibin handlers in Python (componentize-py, WASI 0.2).

A handler is a function from a `Request` to a `Response`; `command(handle)`
makes the class componentize-py calls for each request (the component
exports wasi:cli/run, and wasibin runs it with the CGI contract: the
request's meta-variables in the environment, the body on stdin, the CGI
response on stdout):

    import wasibin

    def handle(req):
        name = req.query.get("name") or "world"
        return wasibin.Response.text(f"Hello, {name}!\\n")

    Run = wasibin.command(handle)

Standard library only. Everything it uses is imported here, at module top
level, because componentize-py snapshots the interpreter after importing the
app at build time and a module first imported while a request runs is not in
the component (see guest-sdk/README.md, "the snapshot rule"). The same goes
for the app: import at top level, and do per-request work in the handler,
never at import time (module top level runs once, at build time, with the
build machine's environment).

The answers are byte for byte those of the Rust crate `wasibin-guest`:
the same `Status:` line and header order, the same cookie syntax and the
same escaping, so every language's examples answer alike.
"""

import email.message
import email.utils
import os
import sys
import traceback

__all__ = [
    "Request", "Response", "Form", "UploadedFile", "Params", "HTTPError",
    "FormError", "ResponseError", "dispatch", "run", "command",
    "escape_html", "encode_component", "decode_component", "percent_decode",
]

DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"

#: The largest body `Request.body` reads; the host bounds it first (10 MiB
#: by default), this is only a backstop for a host configured higher.
MAX_BODY = 64 << 20


# --------------------------------------------------------------- errors


class HTTPError(Exception):
    """Raise (or return) from a handler to answer `status` with `message`."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class FormError(HTTPError):
    """A body that is not a form (415) or a malformed multipart body (400)."""


class ResponseError(ValueError):
    """A response that would break the CGI header block; never written."""


# --------------------------------------------------------------- encoding


def escape_html(text):
    """Escapes `& < > " '` so text can sit in HTML content or an attribute."""
    if not any(c in text for c in "&<>\"'"):
        return text
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def encode_component(text):
    """Percent-encodes every byte of the UTF-8 text but `A-Z a-z 0-9 - . _ ~`:
    safe in a query, a form, a path segment and a cookie value."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in data)


_HEX = {ord(c): int(c, 16) for c in "0123456789abcdefABCDEF"}


def _decode(data, plus_is_space):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if b"%" not in data and not (plus_is_space and b"+" in data):
        return data.decode("utf-8", "replace")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x2B and plus_is_space:
            out.append(0x20)
        elif b == 0x25 and i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(_HEX[data[i + 1]] << 4 | _HEX[data[i + 2]])
            i += 2
        else:
            out.append(b)
        i += 1
    return out.decode("utf-8", "replace")


def decode_component(data):
    """Decodes one form or query component: `+` to space, `%XX` to its byte;
    a `%` without two hex digits stays literal; invalid UTF-8 becomes U+FFFD."""
    return _decode(data, True)


def percent_decode(data):
    """Decodes `%XX` only (`+` stays `+`), the rule for paths."""
    return _decode(data, False)


# --------------------------------------------------------------- request


class Params:
    """Decoded `name=value` pairs in request order, repeated names kept."""

    def __init__(self, pairs=()):
        self.pairs = list(pairs)

    @classmethod
    def parse(cls, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        pairs = []
        for piece in data.split(b"&"):
            if not piece:
                continue
            name, eq, value = piece.partition(b"=")
            pairs.append((decode_component(name), decode_component(value)))
        return cls(pairs)

    def get(self, name, default=None):
        """The first value of `name` (`""` for `?name` or `?name=`), else `default`."""
        for n, v in self.pairs:
            if n == name:
                return v
        return default

    def getall(self, name):
        return [v for n, v in self.pairs if n == name]

    def __contains__(self, name):
        return any(n == name for n, _ in self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self):
        return len(self.pairs)

    def __repr__(self):
        return "Params(%r)" % (self.pairs,)


class UploadedFile:
    """One file of a multipart body, in memory (the host bounded the body)."""

    __slots__ = ("name", "filename", "content_type", "data")

    def __init__(self, name, filename, content_type, data):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data

    def __repr__(self):
        return "UploadedFile(%r, %r, %r, %d bytes)" % (
            self.name, self.filename, self.content_type, len(self.data))


class Form:
    """The fields (`Params`) and files (`UploadedFile`s) of a form body."""

    def __init__(self, fields=None, files=()):
        self.fields = fields if fields is not None else Params()
        self.files = list(files)

    def get(self, name, default=None):
        return self.fields.get(name, default)

    def getall(self, name):
        return self.fields.getall(name)

    def file(self, name):
        for f in self.files:
            if f.name == name:
                return f
        return None


def _media_type(content_type):
    return content_type.split(";", 1)[0].strip().lower()


def _header_text(value):
    """A header parameter as email.message gives it (RFC 2231 `filename*=`
    as a tuple) as text."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return email.utils.collapse_rfc2231_value(value)
    return str(value)


def _headers(text):
    """Header lines as an email.message.Message, for its parameter parsing
    (quoting, RFC 2231); obsolete folded lines are joined."""
    msg = email.message.Message()
    name = None
    value = ""
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and name is not None:
            value += " " + line.strip()
            continue
        if name is not None:
            msg[name] = value
        name, colon, value = line.partition(":")
        name, value = (name.strip(), value.strip()) if colon else (None, "")
    if name is not None:
        msg[name] = value
    return msg


_BOUNDARY_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=? ")


def _malformed(why):
    return FormError(400, "malformed multipart body: %s" % why)


def parse_multipart(content_type, body):
    """A `multipart/form-data` body as a `Form` (the `cgi` module that used to
    do this is gone since Python 3.13).

    The parts are split with `bytes.find`, linear in the body and at C speed;
    each part's headers go through email.message for their parameters.
    email.parser's whole-body parse was the first version: it works line by
    line in Python, 0.3 s natively for a 1 MiB upload of short lines, and
    its bytes parser turns UTF-8 filenames into U+FFFD unless given
    `email.policy.HTTP`, which is 15 times slower again."""
    boundary = _header_text(_headers("Content-Type: " + content_type).get_param("boundary"))
    if (not boundary or len(boundary) > 70 or boundary.endswith(" ")
            or not all(c in _BOUNDARY_CHARS for c in boundary)):
        raise FormError(400, "multipart body without a valid boundary")
    dash = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + dash
    if body.startswith(dash):
        pos = len(dash)
    else:
        at = body.find(delimiter)
        if at < 0:
            raise _malformed("no opening boundary")
        pos = at + len(delimiter)
    fields, files = [], []
    while not body.startswith(b"--", pos):
        while body[pos:pos + 1] in (b" ", b"\t"):
            pos += 1
        if not body.startswith(b"\r\n", pos):
            raise _malformed("boundary not followed by CRLF")
        pos += 2
        end = body.find(delimiter, pos)
        if end < 0:
            raise _malformed("part without closing boundary")
        part = body[pos:end]
        pos = end + len(delimiter)
        if part.startswith(b"\r\n"):
            head, data = b"", part[2:]
        else:
            blank = part.find(b"\r\n\r\n")
            if blank < 0:
                raise _malformed("part headers not ended")
            head, data = part[:blank], part[blank + 4:]
        try:
            head = head.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("part headers not UTF-8") from None
        if any(":" not in line for line in head.split("\r\n")):
            raise _malformed("part header line without a colon")
        headers = _headers(head)
        if headers.get("Content-Disposition") is None:
            raise _malformed("part without Content-Disposition")
        if headers.get_content_disposition() != "form-data":
            raise _malformed("part disposition is not form-data")
        name = _header_text(headers.get_param("name", header="content-disposition"))
        if name is None:
            raise _malformed("part without a field name")
        filename = headers.get_param("filename", header="content-disposition")
        if filename is None:
            filename = headers.get_param("filename*", header="content-disposition")
        if filename is None:
            fields.append((name, data.decode("utf-8", "replace")))
        else:
            ctype = headers.get("Content-Type")
            files.append(UploadedFile(name, _header_text(filename),
                                      str(ctype) if ctype else "application/octet-stream", data))
    return Form(Params(fields), files)


def _read_to_end(stdin):
    """A body sent without CONTENT_LENGTH: `stdin` to end of file, a 413 once
    it passes MAX_BODY (one byte more is read to know)."""
    chunks, left = [], MAX_BODY + 1
    while left > 0:
        chunk = stdin.read(min(left, 64 << 10))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    if left == 0:
        raise HTTPError(413, "request body too large")
    return b"".join(chunks)


class Request:
    """The request as the CGI environment and stdin describe it."""

    def __init__(self, environ=None, body=None):
        self.environ = dict(os.environ if environ is None else environ)
        self._body = body
        self._query = None
        self._cookies = None

    def var(self, name, default=None):
        """Any CGI meta-variable (`REMOTE_ADDR`, `SERVER_NAME`, ...)."""
        return self.environ.get(name, default)

    @property
    def method(self):
        return self.environ.get("REQUEST_METHOD", "GET")

    @property
    def script_name(self):
        """The plugin's route, `/hello` for `plugins/hello.wasm`."""
        return self.environ.get("SCRIPT_NAME", "")

    @property
    def path_info(self):
        """What follows the route, decoded: `/a b` for `/hello/a%20b`."""
        return self.environ.get("PATH_INFO", "")

    @property
    def path(self):
        return self.script_name + self.path_info

    @property
    def query_string(self):
        return self.environ.get("QUERY_STRING", "")

    @property
    def query(self):
        """The query's `Params`, decoded."""
        if self._query is None:
            self._query = Params.parse(self.query_string)
        return self._query

    @property
    def content_type(self):
        return self.environ.get("CONTENT_TYPE", "")

    def header(self, name):
        """A request header by name, as the host passed it (`HTTP_*`)."""
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key)
        return self.environ.get("HTTP_" + key)

    @property
    def cookies(self):
        """`(name, value)` pairs in the order the browser sent them, values raw."""
        if self._cookies is None:
            pairs = []
            for piece in self.environ.get("HTTP_COOKIE", "").split(";"):
                name, eq, value = piece.partition("=")
                name, value = name.strip(), value.strip()
                if not eq or not name:
                    continue
                if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                    value = value[1:-1]
                pairs.append((name, value))
            self._cookies = pairs
        return self._cookies

    def cookie(self, name, default=None):
        for n, v in self.cookies:
            if n == name:
                return v
        return default

    @property
    def body(self):
        """The body, read once from stdin: exactly CONTENT_LENGTH bytes, none
        when it is empty, and stdin to end of file when it is absent. The host
        streams a chunked upload that way (with HTTP_TRANSFER_ENCODING=chunked,
        as Apache's mod_cgi does) and gives a request without a body an empty
        stdin. Over MAX_BODY either way is a 413."""
        if self._body is None:
            stdin = sys.stdin.buffer
            if "CONTENT_LENGTH" not in self.environ:
                self._body = _read_to_end(stdin)
                return self._body
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise HTTPError(400, "invalid Content-Length") from None
            if length > MAX_BODY:
                raise HTTPError(413, "request body too large")
            data = b""
            if length > 0:
                chunks, left = [], length
                while left > 0:
                    chunk = stdin.read(left)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    left -= len(chunk)
                data = b"".join(chunks)
                if left:
                    raise HTTPError(400, "the request body ended early")
            self._body = data
        return self._body

    def text(self):
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "the request body is not UTF-8 text") from None

    def form(self):
        """The urlencoded or multipart body as a `Form` (415 for another type)."""
        ctype = self.content_type
        media = _media_type(ctype)
        body = self.body
        if media == "application/x-www-form-urlencoded":
            return Form(Params.parse(body))
        if media == "multipart/form-data":
            return parse_multipart(ctype, body)
        if not body:
            return Form()
        raise FormError(415, "the body is not a form (Content-Type %s)" % _quote(ctype))


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------- response


REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
    414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    418: "I'm a teapot", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_COOKIE_OCTETS = frozenset([0x21] + list(range(0x23, 0x2C)) + list(range(0x2D, 0x3B))
                           + list(range(0x3C, 0x5C)) + list(range(0x5D, 0x7F)))


def _is_token(s):
    return bool(s) and all(c in _TCHAR for c in s)


def _escape_location(url):
    return "".join(c if 0x21 <= ord(c) <= 0x7E else "".join("%%%02X" % b for b in c.encode("utf-8"))
                   for c in url)


class Response:
    """A status, headers in order (repeats kept) and a body."""

    def __init__(self, status=200, headers=(), body=b""):
        self.status = status
        self.headers = list(headers)
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.local_redirect = False

    # constructors, as in the Rust crate
    @classmethod
    def text(cls, body, status=200):
        return cls(status, [("Content-Type", DEFAULT_CONTENT_TYPE)], body)

    @classmethod
    def html(cls, body, status=200):
        return cls(status, [("Content-Type", "text/html; charset=utf-8")], body)

    @classmethod
    def bytes(cls, content_type, body, status=200):
        return cls(status, [("Content-Type", content_type)], body)

    @classmethod
    def error(cls, status, message):
        return cls.text("%s\n" % (message,), status)

    @classmethod
    def not_found(cls):
        return cls.error(404, "Not Found")

    @classmethod
    def method_not_allowed(cls, *allowed):
        return cls.error(405, "Method Not Allowed").append_header("Allow", ", ".join(allowed))

    @classmethod
    def redirect(cls, url, status=302):
        """A client redirect (301, 302, 303, 307 or 308) to a URL or a path."""
        resp = cls(status, [("Location", _escape_location(url))])
        if status not in (301, 302, 303, 307, 308):
            raise ResponseError("a redirect's status must be 301, 302, 303, 307 or 308, not %r" % (status,))
        return resp

    @classmethod
    def see_other(cls, url):
        """303 See Other: the answer to a POST, so a reload does not resubmit."""
        return cls.redirect(url, 303)

    @classmethod
    def redirect_local(cls, path):
        """Asks the host to serve `path` on this server instead, as a GET."""
        resp = cls(200, [("Location", _escape_location(path))])
        resp.local_redirect = True
        return resp

    # builders
    def with_status(self, status):
        self.status = status
        return self

    def with_header(self, name, value):
        """Sets `name`, replacing any earlier value."""
        lower = name.lower()
        self.headers = [(n, v) for n, v in self.headers if n.lower() != lower]
        self.headers.append((name, str(value)))
        return self

    def append_header(self, name, value):
        """Adds `name` once more (`Set-Cookie`, `Link`, ...)."""
        self.headers.append((name, str(value)))
        return self

    def header(self, name):
        lower = name.lower()
        for n, v in self.headers:
            if n.lower() == lower:
                return v
        return None

    def set_cookie(self, name, value, path=None, domain=None, max_age=None, expires=None,
                   secure=False, http_only=False, same_site=None):
        """Adds `Set-Cookie: name=value; Path=...`; encode the value with
        `encode_component` if it may hold a space, `;`, `,`, a quote or non-ASCII."""
        inner = value[1:-1] if len(value) >= 2 and value[0] == '"' and value[-1] == '"' else value
        if not _is_token(name):
            raise ResponseError("invalid cookie name %r" % (name,))
        if not all(ord(c) in _COOKIE_OCTETS for c in inner):
            raise ResponseError("invalid cookie value %r (space, quote, comma, semicolon, backslash, "
                                "controls and non-ASCII must be encoded)" % (value,))
        parts = ["%s=%s" % (name, value)]
        for attr, v in (("Path", path), ("Domain", domain)):
            if v is not None:
                parts.append("%s=%s" % (attr, _cookie_attr(attr, v)))
        if max_age is not None:
            parts.append("Max-Age=%d" % int(max_age))
        if expires is not None:
            parts.append("Expires=%s" % _cookie_attr("Expires", expires))
        if secure:
            parts.append("Secure")
        if http_only:
            parts.append("HttpOnly")
        if same_site is not None:
            if same_site not in ("Strict", "Lax", "None"):
                raise ResponseError("SameSite must be Strict, Lax or None")
            parts.append("SameSite=%s" % same_site)
        return self.append_header("Set-Cookie", "; ".join(parts))

    def with_body(self, body):
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return self

    def validate(self):
        if not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ResponseError("invalid status %r" % (self.status,))
        for name, value in self.headers:
            if not _is_token(name):
                raise ResponseError("invalid header name %r" % (name,))
            if name.lower() == "status":
                raise ResponseError("set the status with with_status, not a Status header")
            if any(c in value for c in "\r\n\0") or any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F
                                                        for c in value):
                raise ResponseError("invalid value for header %s: %r" % (name, value))
            if name.lower() == "location":
                bad = not value or not all(0x21 <= ord(c) <= 0x7E for c in value) or (
                    self.local_redirect and (not value.startswith("/") or value.startswith("//")))
                if bad:
                    raise ResponseError("invalid Location %r" % (value,))
        for single in ("content-type", "location"):
            if sum(1 for n, _ in self.headers if n.lower() == single) > 1:
                raise ResponseError("more than one %s header" % single)

    def to_cgi(self):
        """The CGI response (header lines, a blank line, the body) as bytes;
        raises `ResponseError` for one that would break the header block."""
        self.validate()
        lines = []
        if not self.local_redirect:
            reason = REASONS.get(self.status)
            lines.append("Status: %d %s" % (self.status, reason) if reason else "Status: %d" % self.status)
            if (self.header("Content-Type") is None and self.header("Location") is None
                    and self.status not in (204, 205, 304)):
                lines.append("Content-Type: " + DEFAULT_CONTENT_TYPE)
        lines.extend("%s: %s" % (n, v) for n, v in self.headers)
        head = ("\n".join(lines) + "\n\n").encode("utf-8")
        return head if self.local_redirect else head + self.body


def _cookie_attr(attr, value):
    value = str(value)
    if ";" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ResponseError("invalid cookie attribute %s" % attr)
    return value


# --------------------------------------------------------------- running


def dispatch(request, handler):
    """Runs `handler(request)` and returns the response to send: an
    `HTTPError` (raised or returned) answers its status and message; any
    other exception, or a response that would break the header block, is a
    500 with the cause on stderr (the server log) and nothing of it in the page."""
    try:
        resp = handler(request)
        if isinstance(resp, HTTPError):
            raise resp
        if not isinstance(resp, Response):
            raise TypeError("the handler returned %r, not a wasibin.Response" % (resp,))
        resp.validate()
        return resp
    except HTTPError as e:
        return Response.error(e.status, e.message)
    except ResponseError as e:
        print("wasibin: refused the handler's response: %s" % e, file=sys.stderr)
        return Response.error(500, "Internal Server Error")
    except Exception:  # noqa: BLE001 - every other failure is a logged 500
        traceback.print_exc(file=sys.stderr)
        return Response.error(500, "Internal Server Error")


def run(handler, environ=None):
    """Serves one request: the environment and stdin in, the CGI response
    out on stdout, in one write."""
    resp = dispatch(Request(environ), handler)
    out = sys.stdout.buffer
    out.write(resp.to_cgi())
    out.flush()


def command(handler):
    """The `Run` class componentize-py wants of a wasi:cli command app:
    `Run = wasibin.command(handle)` at the app's top level."""
    from wit_world import exports  # the bindings componentize-py generates

    class Run(exports.Run):
        def run(self):
            run(handler)

    return Run


def _warm_up():
    """Runs the parsers and the response writer once at import, which is at
    build time: whatever they import lazily is then in the snapshot."""
    body = (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%C3%A9\r\n"
            b"Content-Type: text/plain\r\n\r\ny\r\n--b--\r\n")
    req = Request({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=b",
                   "CONTENT_LENGTH": str(len(body)), "QUERY_STRING": "a=%41+b", "HTTP_COOKIE": "a=1"}, body)
    req.form(), req.query.get("a"), req.cookie("a")
    Request({"CONTENT_TYPE": "application/x-www-form-urlencoded"}, b"a=%41").form()
    Response.html("x").set_cookie("a", encode_component("\u00e9 x"), path="/").to_cgi()
    decode_component("%C3%A9+"), escape_html("<")


_warm_up()
