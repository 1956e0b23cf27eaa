// form: the tutorials' POST form. GET shows the form (and greets a returning
// visitor by cookie); POST, urlencoded or multipart, greets `firstname`,
// lists an uploaded file and remembers the name in a cookie. No name sends
// the browser back to the form (303); other methods get 405.
// A script for wasibin's built-in QuickJS interpreter: copy it into
// plugins/ and it serves /form (see guest-sdk/README.md).
serve((req) => {
  if (req.pathInfo === "/missing") return notFound();
  // A local redirect: the server answers with the form itself.
  if (req.pathInfo === "/again") return redirectLocal(req.scriptName);
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

function formPage(req) {
  let page = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Form</title></head><body>\n';
  const name = req.cookie("firstname");
  if (name !== null) page += `<p>Welcome back, ${escapeHtml(decodeComponent(name))}!</p>\n`;
  page +=
    `<form method="post" action="${escapeHtml(req.scriptName)}" enctype="multipart/form-data">\n` +
    '<label>First name: <input name="firstname"></label>\n' +
    '<input type="file" name="upload">\n' +
    '<input type="submit" value="Submit">\n' +
    "</form>\n</body></html>\n";
  return html(page);
}

function greet(req) {
  const form = req.form();
  const name = form.get("firstname") ?? "";
  if (name === "") return seeOther(req.scriptName);
  let page =
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n' +
    `<h1>Hello, ${escapeHtml(name)}!</h1>\n`;
  const upload = form.file("upload");
  if (upload !== null && upload.filename !== "") {
    page += `<p>Received ${escapeHtml(upload.filename)}: ${upload.data.length} bytes</p>\n`;
  }
  page += `<p><a href="${escapeHtml(req.scriptName)}">Back to the form</a></p>\n</body></html>\n`;
  return html(page).setCookie("firstname", encodeComponent(name), { path: "/" });
}
