// form: the tutorials' POST form. GET shows the form (and greets a returning
// visitor by cookie); POST, urlencoded or multipart, greets `firstname`, lists
// an uploaded file and remembers the name in a cookie. No name sends the
// browser back to the form (303); other methods get 405.
// Build: see guest-sdk/README.md ("write a handler in AssemblyScript").
import { Request, Response, run, urlDecode, urlEncode } from "../../assemblyscript/wasibin";

function formPage(req: Request, res: Response): void {
  res.header("Content-Type", "text/html; charset=utf-8");
  res.write('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Form</title></head><body>\n');
  const cookie = req.cookie("firstname");
  if (cookie !== null) {
    res.write("<p>Welcome back, ");
    res.writeHtml(urlDecode(cookie));
    res.write("!</p>\n");
  }
  res.write('<form method="post" action="');
  res.writeHtml(req.scriptName());
  res.write(
    '" enctype="multipart/form-data">\n' +
      '<label>First name: <input name="firstname"></label>\n' +
      '<input type="file" name="upload">\n' +
      '<input type="submit" value="Submit">\n' +
      "</form>\n</body></html>\n",
  );
}

function greet(req: Request, res: Response): void {
  const name = req.formField("firstname");
  if (name === null || name.length == 0) {
    res.redirect(303, req.scriptName());
    return;
  }
  res.status(200);
  res.header("Content-Type", "text/html; charset=utf-8");
  res.setCookie("firstname", urlEncode(name), "Path=/");
  res.write('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n<h1>Hello, ');
  res.writeHtml(name);
  res.write("!</h1>\n");
  const parts = req.parts();
  if (parts !== null) {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const filename = part.filename;
      if (filename === null || filename.length == 0 || part.name != "upload") continue;
      res.write("<p>Received ");
      res.writeHtml(filename);
      res.write(": " + part.data.length.toString() + " bytes</p>\n");
      break;
    }
  }
  res.write('<p><a href="');
  res.writeHtml(req.scriptName());
  res.write('">Back to the form</a></p>\n</body></html>\n');
}

function handle(req: Request, res: Response): void {
  const method = req.method();
  if (req.pathInfo() == "/missing") {
    res.fail(404, "Not Found");
  } else if (req.pathInfo() == "/again") {
    // A local redirect: the server answers with the form itself.
    res.redirectLocal(req.scriptName());
  } else if (method == "GET" || method == "HEAD") {
    formPage(req, res);
  } else if (method == "POST") {
    greet(req, res);
  } else {
    res.status(405);
    res.header("Allow", "GET, POST");
    res.write("Method Not Allowed\n");
  }
}

run(handle);
