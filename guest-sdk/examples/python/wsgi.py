"""wsgi: a WSGI app served through the standard library's
wsgiref.handlers.CGIHandler, the WSGI tutorials' promise kept: one
interface, any framework. Each request is one CGI run of the component;
CGIHandler reads the CGI variables from os.environ and the body from stdin,
calls the app, and writes `Status: 200 OK`, the headers and the body to
stdout.

GET greets ?name= (else the world); POST greets the `name` field of an
urlencoded form; other methods get 405.

Build (from guest-sdk/, see README.md):
  componentize-py -d wit -w cgi componentize wsgi -p examples/python -o wsgi.wasm

The snapshot rule: componentize-py imports this module at build time and
keeps only what was imported then, so everything the app (or a framework)
needs at run time is imported here, at top level. `traceback` is the
example: wsgiref imports it inside its error handler, so without the import
below an app that raises would not get its 500 page but a second exception
(`No module named 'traceback'`) and a trapped component (502).
"""
import html
import sys
import traceback  # noqa: F401 - imported by wsgiref only when an app fails
import wsgiref.handlers
from urllib.parse import parse_qs

from wit_world import exports


def read_body(environ):
    """The request body. CGIHandler's wsgi.input is stdin itself, not cut at
    CONTENT_LENGTH, so the length decides: exactly CONTENT_LENGTH bytes, and
    without one (a chunked upload the host streams, with
    HTTP_TRANSFER_ENCODING=chunked) stdin to end of file, which the host
    bounds by its max_body."""
    if "CONTENT_LENGTH" not in environ:
        return environ["wsgi.input"].read()
    length = int(environ["CONTENT_LENGTH"] or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    if method in ("GET", "HEAD"):
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    elif method == "POST":
        body = read_body(environ)
        params = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    else:
        start_response("405 Method Not Allowed",
                       [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET, POST")])
        return [b"Method Not Allowed\n"]
    name = params.get("name", ["world"])[0]
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>WSGI</title></head><body>\n"
            "<h1>Hello, %s!</h1>\n<p>A WSGI app, served by wsgiref.handlers.CGIHandler.</p>\n"
            "</body></html>\n") % html.escape(name)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [page.encode("utf-8")]


class Run(exports.Run):
    def run(self):
        wsgiref.handlers.CGIHandler().run(app)
        sys.stdout.flush()
