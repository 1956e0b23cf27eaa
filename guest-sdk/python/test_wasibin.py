"""Unit tests of wasibin.py, natively: `python3 -m unittest discover guest-sdk/python`
(and the examples' handlers, on requests built here)."""
import io
import os
import random
import sys
import types
import unittest
import wsgiref.handlers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python"))

import wasibin  # noqa: E402
from wasibin import Request, Response  # noqa: E402


def env(method="GET", script="/py/form", query="", **extra):
    e = {"REQUEST_METHOD": method, "SCRIPT_NAME": script, "PATH_INFO": "", "QUERY_STRING": query}
    e.update(extra)
    return e


def post(ctype, body, script="/py/form"):
    return Request(env("POST", script, CONTENT_TYPE=ctype, CONTENT_LENGTH=str(len(body))), body=body)


FILE = b"line 1\r\n--not-the-boundary\r\n\x00\xff\xfe end"
MULTIPART = (b'--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="firstname"\r\n\r\nAda\r\n'
             b'--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="upload"; filename="notes <1>.txt"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n" + FILE + b"\r\n--wasibin-7MA4YWxk--\r\n")
MP_TYPE = "multipart/form-data; boundary=wasibin-7MA4YWxk"


class Encoding(unittest.TestCase):
    def test_escape_html(self):
        self.assertEqual(wasibin.escape_html("<b>Tom & \"Jerry\"'</b>"),
                         "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&#39;&lt;/b&gt;")

    def test_components(self):
        self.assertEqual(wasibin.encode_component("Ada L/é!*'()"), "Ada%20L%2F%C3%A9%21%2A%27%28%29")
        self.assertEqual(wasibin.decode_component("a+b%20c%zz%4"), "a b c%zz%4")
        self.assertEqual(wasibin.decode_component("%ff"), "\ufffd")
        self.assertEqual(wasibin.percent_decode("a+b"), "a+b")

    def test_query(self):
        q = Request(env(query="x&name=Ada%20L&name=B&e=")).query
        self.assertEqual((q.get("name"), q.getall("name"), q.get("x"), q.get("e"), q.get("no")),
                         ("Ada L", ["Ada L", "B"], "", "", None))


class Requests(unittest.TestCase):
    def test_cookies(self):
        r = Request(env(HTTP_COOKIE='theme=dark; name=Bob; q="x y"; bad; =z'))
        self.assertEqual(r.cookies, [("theme", "dark"), ("name", "Bob"), ("q", "x y")])
        self.assertEqual(r.cookie("name"), "Bob")

    def test_body_from_stdin(self):
        old = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(b"abcdef"))
        try:
            self.assertEqual(Request(env("POST", CONTENT_LENGTH="4")).body, b"abcd")
        finally:
            sys.stdin = old

    def test_chunked_body_is_stdin_to_end_of_file(self):
        old = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(b"a=1&b=2"))
        try:
            r = Request(env("POST", CONTENT_TYPE="application/x-www-form-urlencoded",
                            HTTP_TRANSFER_ENCODING="chunked"))
            self.assertEqual(r.body, b"a=1&b=2")
            f = r.form()
            self.assertEqual((f.get("a"), f.get("b")), ("1", "2"))
        finally:
            sys.stdin = old

    def test_chunked_body_over_max_body_is_413(self):
        old, old_max = sys.stdin, wasibin.MAX_BODY
        wasibin.MAX_BODY = 7
        try:
            sys.stdin = io.TextIOWrapper(io.BytesIO(b"a=1&b=2"))
            self.assertEqual(Request(env("POST", HTTP_TRANSFER_ENCODING="chunked")).body, b"a=1&b=2")
            sys.stdin = io.TextIOWrapper(io.BytesIO(b"a=1&b=22"))
            with self.assertRaises(wasibin.HTTPError) as e:
                Request(env("POST", HTTP_TRANSFER_ENCODING="chunked")).body
            self.assertEqual(e.exception.status, 413)
            # The same answer as for a CONTENT_LENGTH over the limit.
            with self.assertRaises(wasibin.HTTPError) as e:
                Request(env("POST", CONTENT_LENGTH="8")).body
            self.assertEqual(e.exception.status, 413)
        finally:
            sys.stdin, wasibin.MAX_BODY = old, old_max

    def test_empty_content_length_is_no_body(self):
        old = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(b"ignored"))
        try:
            self.assertEqual(Request(env("POST", CONTENT_LENGTH="")).body, b"")
        finally:
            sys.stdin = old

    def test_urlencoded(self):
        f = post("application/x-www-form-urlencoded", b"x=1&firstname=%3Cscript%3EAda+L").form()
        self.assertEqual(f.get("firstname"), "<script>Ada L")

    def test_multipart(self):
        f = post(MP_TYPE, MULTIPART).form()
        self.assertEqual(f.get("firstname"), "Ada")
        up = f.file("upload")
        self.assertEqual((up.filename, up.content_type, up.data), ("notes <1>.txt", "application/octet-stream", FILE))

    def test_multipart_binary_roundtrip(self):
        rng = random.Random(7)
        for n in range(300):
            data = bytes(rng.choice(b"\r\n-\x00\xffab") for _ in range(rng.randrange(0, 200)))
            fname = "f\u00e9 %d.bin" % n
            body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n"
                    b"--XyZ\r\nContent-Disposition: form-data; name=\"up\"; filename=\"" + fname.encode() + b"\"\r\n\r\n"
                    + data + b"\r\n--XyZ--\r\n")
            f = post("multipart/form-data; boundary=XyZ", body).form()
            self.assertEqual(f.file("up").data, data, repr(data))
            self.assertEqual(f.file("up").filename, fname)
            self.assertEqual(f.get("a"), "v")

    def test_multipart_large_upload_is_linear(self):
        import time
        data = b"x\n" * (1 << 19)  # 1 MiB of short lines: 0.3 s through email.parser, 1 ms here
        body = b'--b\r\nContent-Disposition: form-data; name="up"; filename="x"\r\n\r\n' + data + b"\r\n--b--\r\n"
        start = time.perf_counter()
        f = post("multipart/form-data; boundary=b", body).form()
        self.assertEqual(f.file("up").data, data)
        self.assertLess(time.perf_counter() - start, 0.1)

    def test_multipart_names(self):
        body = (b"--b\r\nContent-Disposition: form-data; name=\"up\"; filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\nx\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n\xc3\xa9\r\n--b--\r\n")
        f = post("multipart/form-data; boundary=b", body).form()
        self.assertEqual((f.file("up").filename, f.get("t")), ("\u00e9t\u00e9.txt", "\u00e9"))
        for bad in (b"garbage", b"--b\r\n\r\nx\r\n--b--\r\n", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx'):
            with self.assertRaises(wasibin.FormError) as e:
                post("multipart/form-data; boundary=b", bad).form()
            self.assertEqual(e.exception.status, 400)

    def test_form_errors(self):
        with self.assertRaises(wasibin.FormError) as e:
            post("application/json", b"{}").form()
        self.assertEqual(e.exception.status, 415)
        with self.assertRaises(wasibin.FormError) as e:
            post("multipart/form-data", b"x").form()
        self.assertEqual(e.exception.status, 400)


class Responses(unittest.TestCase):
    def test_cgi_bytes(self):
        self.assertEqual(Response.text("hi").to_cgi(),
                         b"Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n\nhi")
        self.assertEqual(Response.see_other("/thanks").to_cgi(), b"Status: 303 See Other\nLocation: /thanks\n\n")
        self.assertEqual(Response.method_not_allowed("GET", "POST").to_cgi(),
                         b"Status: 405 Method Not Allowed\nContent-Type: text/plain; charset=utf-8\n"
                         b"Allow: GET, POST\n\nMethod Not Allowed\n")
        self.assertEqual(Response(204).to_cgi(), b"Status: 204 No Content\n\n")
        self.assertEqual(Response(299).to_cgi(), b"Status: 299\nContent-Type: text/plain; charset=utf-8\n\n")
        self.assertEqual(Response.redirect_local("/other?x").with_body("ignored").to_cgi(), b"Location: /other?x\n\n")

    def test_cookie(self):
        r = Response.text("x").set_cookie("a", "1", path="/", max_age=60, secure=True, http_only=True,
                                          same_site="Lax")
        self.assertEqual(r.header("Set-Cookie"), "a=1; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax")
        for bad in ("a b", "a;b", "é"):
            with self.assertRaises(wasibin.ResponseError):
                Response.text("x").set_cookie("a", bad)

    def test_refusals_become_500(self):
        for bad in (lambda r: Response.text("x").with_header("X-A", "a\r\nb"),
                    lambda r: Response.text("x").with_header("Bad Name", "v"),
                    lambda r: 42,
                    lambda r: 1 / 0):
            resp = wasibin.dispatch(Request(env()), bad)
            self.assertEqual(resp.status, 500)
            self.assertEqual(resp.body, b"Internal Server Error\n")
        resp = wasibin.dispatch(Request(env()), lambda r: (_ for _ in ()).throw(wasibin.HTTPError(418, "teapot")))
        self.assertEqual(resp.to_cgi(), b"Status: 418 I'm a teapot\nContent-Type: text/plain; charset=utf-8\n\nteapot\n")


class Examples(unittest.TestCase):
    """The examples' handlers (without the componentize-py bindings)."""

    @classmethod
    def setUpClass(cls):
        wasibin.command = lambda handler: None  # wit_world exists only under componentize-py
        import form
        import hello
        cls.form, cls.hello = form, hello
        # wsgi.py imports the bindings itself: a stand-in with what it uses.
        sys.modules.setdefault("wit_world", types.SimpleNamespace(
            exports=types.SimpleNamespace(Run=object)))
        import wsgi
        cls.wsgi = wsgi

    def cgi(self, mod, req):
        return wasibin.dispatch(req, mod.handle).to_cgi()

    def test_hello(self):
        h = self.hello
        self.assertEqual(self.cgi(h, Request(env(query="x&name=Ada%20L"))),
                         b"Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n\nHello, Ada L!\n")
        self.assertTrue(self.cgi(h, Request(env(HTTP_COOKIE="theme=dark; name=Bob"))).endswith(b"Hello, Bob!\n"))
        self.assertTrue(self.cgi(h, Request(env())).endswith(b"\n\nHello, world!\n"))

    def test_form(self):
        out = self.cgi(self.form, post("application/x-www-form-urlencoded", b"x=1&firstname=%3Cscript%3EAda+L"))
        self.assertEqual(out, b"Status: 200 OK\nContent-Type: text/html; charset=utf-8\n"
                              b"Set-Cookie: firstname=%3Cscript%3EAda%20L; Path=/\n\n"
                              b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n'
                              b"<h1>Hello, &lt;script&gt;Ada L!</h1>\n"
                              b'<p><a href="/py/form">Back to the form</a></p>\n</body></html>\n')
        out = self.cgi(self.form, post(MP_TYPE, MULTIPART))
        self.assertIn(b"<h1>Hello, Ada!</h1>\n<p>Received notes &lt;1&gt;.txt: 35 bytes</p>\n", out)
        out = self.cgi(self.form, Request(env(HTTP_COOKIE="firstname=Ada%20L")))
        self.assertIn(b"<p>Welcome back, Ada L!</p>\n<form method=\"post\" action=\"/py/form\"", out)
        self.assertEqual(self.cgi(self.form, post("application/x-www-form-urlencoded", b"firstname=")),
                         b"Status: 303 See Other\nLocation: /py/form\n\n")
        self.assertEqual(self.cgi(self.form, Request(env("PUT"))),
                         b"Status: 405 Method Not Allowed\nContent-Type: text/plain; charset=utf-8\n"
                         b"Allow: GET, POST\n\nMethod Not Allowed\n")
        self.assertEqual(self.cgi(self.form, post("application/json", b"{}"))[:35],
                         b"Status: 415 Unsupported Media Type\n")

    def wsgi_post(self, body, **extra):
        """What wsgiref's CGI handler answers for a POST of `body` on stdin."""
        out = io.BytesIO()
        environ = env("POST", "/py/wsgi", CONTENT_TYPE="application/x-www-form-urlencoded", **extra)
        wsgiref.handlers.BaseCGIHandler(io.BytesIO(body), out, io.StringIO(), environ,
                                        multithread=False, multiprocess=True).run(self.wsgi.app)
        return out.getvalue()

    def test_wsgi_reads_a_body_with_or_without_a_length(self):
        body = b"x=1&name=Ada"
        self.assertIn(b"<h1>Hello, Ada!</h1>", self.wsgi_post(body, CONTENT_LENGTH=str(len(body))))
        self.assertIn(b"<h1>Hello, world!</h1>", self.wsgi_post(body, CONTENT_LENGTH="3"))
        # Without CONTENT_LENGTH wsgiref passes stdin as it is: read to its end.
        self.assertIn(b"<h1>Hello, Ada!</h1>", self.wsgi_post(body, HTTP_TRANSFER_ENCODING="chunked"))
        self.assertIn(b"<h1>Hello, world!</h1>", self.wsgi_post(b"name=Ignored", CONTENT_LENGTH=""))


if __name__ == "__main__":
    unittest.main()
