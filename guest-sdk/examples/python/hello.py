"""hello: greets ?name=, else the `name` cookie, else the world.

Build (from guest-sdk/, see README.md):
  componentize-py -d wit -w cgi componentize hello -p examples/python -p python -o hello.wasm
"""
import wasibin


def handle(req):
    name = req.query.get("name")
    if name is None:
        name = req.cookie("name", "world")
    return wasibin.Response.text("Hello, %s!\n" % name)


Run = wasibin.command(handle)
