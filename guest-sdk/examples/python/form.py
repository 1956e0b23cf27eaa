"""form: the tutorials' POST form. GET shows the form (and greets a returning
visitor by cookie); POST, urlencoded or multipart, greets `firstname`, lists
an uploaded file and remembers the name in a cookie. No name sends the
browser back to the form (303); other methods get 405.

Build (from guest-sdk/, see README.md):
  componentize-py -d wit -w cgi componentize form -p examples/python -p python -o form.wasm
"""
from wasibin import Response, command, decode_component, encode_component, escape_html


def handle(req):
    if req.path_info == "/missing":
        return Response.not_found()
    if req.path_info == "/again":
        # A local redirect: the server answers with the form itself.
        return Response.redirect_local(req.script_name)
    if req.method in ("GET", "HEAD"):
        return form_page(req)
    if req.method == "POST":
        return greet(req)
    return Response.method_not_allowed("GET", "POST")


def form_page(req):
    page = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Form</title></head><body>\n')
    name = req.cookie("firstname")
    if name is not None:
        page += "<p>Welcome back, %s!</p>\n" % escape_html(decode_component(name))
    page += ('<form method="post" action="%s" enctype="multipart/form-data">\n'
             '<label>First name: <input name="firstname"></label>\n'
             '<input type="file" name="upload">\n'
             '<input type="submit" value="Submit">\n'
             "</form>\n</body></html>\n") % escape_html(req.script_name)
    return Response.html(page)


def greet(req):
    form = req.form()
    name = form.get("firstname", "")
    if not name:
        return Response.see_other(req.script_name)
    page = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n'
            "<h1>Hello, %s!</h1>\n") % escape_html(name)
    upload = form.file("upload")
    if upload is not None and upload.filename:
        page += "<p>Received %s: %d bytes</p>\n" % (escape_html(upload.filename), len(upload.data))
    page += '<p><a href="%s">Back to the form</a></p>\n</body></html>\n' % escape_html(req.script_name)
    return Response.html(page).set_cookie("firstname", encode_component(name), path="/")


Run = command(handle)
