// form: the tutorials' POST form. GET shows the form (and greets a returning
// visitor by cookie); POST, urlencoded or multipart, greets `firstname`,
// lists an uploaded file and remembers the name in a cookie. No name sends
// the browser back to the form (303); other methods get 405.
// A wasi:http handler; build (from guest-sdk/, see README.md):
//   wit/wasi-0.2.10.sh /tmp/wit-0.2.10
//   js/node_modules/.bin/componentize-js examples/js/form.js --wit /tmp/wit-0.2.10 --world-name http -o form.wasm
import {
  cookie, cookieHeader, decodeComponent, encodeComponent, escapeHtml, html,
  methodNotAllowed, notFound, path, readForm, seeOther, serve,
} from "../../js/wasibin.js";

serve(async (req) => {
  // A wasi:http handler sees the whole path, and has no local redirect:
  // for `/again` it answers with the form itself.
  const here = path(req);
  if (here.endsWith("/missing")) return notFound();
  if (here.endsWith("/again")) return formPage(req, here.slice(0, -"/again".length));
  switch (req.method) {
    case "GET":
    case "HEAD":
      return formPage(req);
    case "POST":
      return greet(req);
    default:
      return methodNotAllowed("GET", "POST");
  }
});

function formPage(req, action = path(req)) {
  let page = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Form</title></head><body>\n';
  const name = cookie(req, "firstname");
  if (name !== null) page += `<p>Welcome back, ${escapeHtml(decodeComponent(name))}!</p>\n`;
  page +=
    `<form method="post" action="${escapeHtml(action)}" enctype="multipart/form-data">\n` +
    '<label>First name: <input name="firstname"></label>\n' +
    '<input type="file" name="upload">\n' +
    '<input type="submit" value="Submit">\n' +
    "</form>\n</body></html>\n";
  return html(page);
}

async function greet(req) {
  const form = await readForm(req);
  const name = form.get("firstname") ?? "";
  if (name === "") return seeOther(path(req));
  let page =
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n' +
    `<h1>Hello, ${escapeHtml(name)}!</h1>\n`;
  const upload = form.file("upload");
  if (upload !== null && upload.filename !== "") {
    page += `<p>Received ${escapeHtml(upload.filename)}: ${upload.data.length} bytes</p>\n`;
  }
  page += `<p><a href="${escapeHtml(path(req))}">Back to the form</a></p>\n</body></html>\n`;
  return html(page, { headers: [["set-cookie", cookieHeader("firstname", encodeComponent(name), { path: "/" })]] });
}
