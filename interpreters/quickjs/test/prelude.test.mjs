// The prelude's parsers and response writer, and the QuickJS examples'
// answers, run natively under node with a fake `host` (the natives that
// quickjs.wasm gives it). Run: `node --test test/` in interpreters/quickjs
// (guest-sdk/tests/sdk_scripts.rs does). check.sh runs the same examples
// inside quickjs.wasm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runInThisContext } from "node:vm";

const here = new URL("..", import.meta.url);
const prelude = readFileSync(new URL("src/prelude.js", here), "utf8");
const examples = new URL("../../guest-sdk/examples/quickjs/", here);

/** Evaluates the prelude and `script` for one request; returns what the
 * interpreter would write to stdout and stderr. */
async function serveOnce(script, { env = {}, body = "", args = [] } = {}) {
  let out = "";
  const log = [];
  const host = {
    init: false,
    patchIntrinsics: false,
    env: () => ({ ...env }),
    args: () => ["route", "/wasibin/script/x.js", ...args],
    body: () => new Uint8Array(Buffer.from(body, typeof body === "string" ? "utf8" : undefined)),
    write: (data) => {
      out += typeof data === "string" ? data : Buffer.from(data).toString("latin1");
    },
    respond: (head, data, withLength) => {
      const bytes = data === null ? Buffer.alloc(0) : Buffer.from(data);
      out += head + (withLength ? `Content-Length: ${bytes.length}\n` : "") + "\n" + bytes.toString("latin1");
    },
    log: (line) => log.push(line),
    random: Math.random,
    clock: () => {},
    now: () => 0,
    timeOrigin: () => 0,
    utf8Encode: (text) => new Uint8Array(Buffer.from(text, "utf8")),
    utf8Decode: (bytes, fatal) => new TextDecoder("utf-8", { fatal }).decode(bytes),
  };
  const global = {};
  const { run, endInit } = runInThisContext(prelude, { filename: "prelude.js" })(host, global);
  const names = Object.getOwnPropertyNames(global);
  new Function(...names, script)(...names.map((n) => global[n]));
  if (endInit()) {
    run();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { out, log, api: global };
}

const example = (name) => readFileSync(new URL(name, examples), "utf8");
const TEXT = "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n";

test("hello answers like every other language's", async () => {
  const hello = example("hello.js");
  let r = await serveOnce(hello, { env: { REQUEST_METHOD: "GET", QUERY_STRING: "x&name=Ada%20L" } });
  assert.equal(r.out, `${TEXT}Content-Length: 14\n\nHello, Ada L!\n`);
  r = await serveOnce(hello, { env: { HTTP_COOKIE: "theme=dark; name=Bob" } });
  assert.equal(r.out, `${TEXT}Content-Length: 12\n\nHello, Bob!\n`);
  r = await serveOnce(hello, { env: {} });
  assert.equal(r.out, `${TEXT}Content-Length: 14\n\nHello, world!\n`);
});

test("form: urlencoded, multipart with a binary file, welcome back, 303, 405, 415", async () => {
  const form = example("form.js");
  const env = { SCRIPT_NAME: "/quickjs/form", REQUEST_METHOD: "POST", CONTENT_TYPE: "application/x-www-form-urlencoded" };
  let r = await serveOnce(form, { env, body: "x=1&firstname=%3Cscript%3EAda+L" });
  assert.match(r.out, /^Status: 200 OK\nContent-Type: text\/html; charset=utf-8\nSet-Cookie: firstname=%3Cscript%3EAda%20L; Path=\/\n/);
  assert.ok(r.out.includes("<h1>Hello, &lt;script&gt;Ada L!</h1>"));
  assert.ok(!r.out.includes("<script>"));

  const file = Buffer.from("line 1\r\n--not-the-boundary\r\n\x00\xff\xfe end", "latin1");
  const body = Buffer.concat([
    Buffer.from('--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="firstname"\r\n\r\nAda\r\n'),
    Buffer.from('--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="upload"; filename="notes <1>.txt"\r\nContent-Type: application/octet-stream\r\n\r\n'),
    file,
    Buffer.from("\r\n--wasibin-7MA4YWxk--\r\n"),
  ]);
  r = await serveOnce(form, { env: { ...env, CONTENT_TYPE: "multipart/form-data; boundary=wasibin-7MA4YWxk" }, body });
  assert.ok(r.out.includes("<h1>Hello, Ada!</h1>"), r.out);
  assert.ok(r.out.includes(`<p>Received notes &lt;1&gt;.txt: ${file.length} bytes</p>`), r.out);

  r = await serveOnce(form, { env: { SCRIPT_NAME: "/quickjs/form", REQUEST_METHOD: "GET", HTTP_COOKIE: "firstname=Ada%20L" } });
  assert.ok(r.out.includes("<p>Welcome back, Ada L!</p>"));
  assert.ok(r.out.includes('<form method="post" action="/quickjs/form"'));

  r = await serveOnce(form, { env, body: "firstname=" });
  assert.equal(r.out, "Status: 303 See Other\nLocation: /quickjs/form\nContent-Length: 0\n\n");

  r = await serveOnce(form, { env: { SCRIPT_NAME: "/quickjs/form", REQUEST_METHOD: "PUT" } });
  assert.equal(r.out, `Status: 405 Method Not Allowed\nContent-Type: text/plain; charset=utf-8\nAllow: GET, POST\nContent-Length: 19\n\nMethod Not Allowed\n`);

  r = await serveOnce(form, { env: { ...env, CONTENT_TYPE: "application/json" }, body: "{}" });
  assert.match(r.out, /^Status: 415 Unsupported Media Type\n/);
});

test("a chunked body (no CONTENT_LENGTH) is read like any other", async () => {
  // host.body() reads stdin to end of file whatever CONTENT_LENGTH says, so
  // a chunked upload the host streams without a length reaches req.form().
  const script = 'serve((req) => { const f = req.form(); return text(`${req.body.length} a=${f.get("a")} b=${f.get("b")}\\n`); });';
  const env = { REQUEST_METHOD: "POST", CONTENT_TYPE: "application/x-www-form-urlencoded", HTTP_TRANSFER_ENCODING: "chunked" };
  const r = await serveOnce(script, { env, body: "a=1&b=2" });
  assert.equal(r.out, `${TEXT}Content-Length: 10\n\n7 a=1 b=2\n`);
});

test("query, cookies and headers", async () => {
  const { api } = await serveOnce("");
  const q = api.parseQuery("x&name=Ada%20L&a=1&a=2&plus=a+b&bad=%zz&utf=%C3%A9&broken=%FF");
  assert.deepEqual([...q], [["x", ""], ["name", "Ada L"], ["a", "1"], ["a", "2"], ["plus", "a b"], ["bad", "%zz"], ["utf", "é"], ["broken", "\uFFFD"]]);
  assert.equal(q.get("a"), "1");
  assert.deepEqual(q.getAll("a"), ["1", "2"]);
  assert.equal(q.get("missing"), null);
  assert.deepEqual(api.parseCookies(' a=1; b="quoted"; junk; =x; c=d=e'), [["a", "1"], ["b", "quoted"], ["c", "d=e"]]);
  const req = new api.Request({ HTTP_X_CUSTOM_THING: "yes", CONTENT_TYPE: "text/plain", PATH_INFO: "/a b", SCRIPT_NAME: "/r" }, []);
  assert.equal(req.header("X-Custom-Thing"), "yes");
  assert.equal(req.headers.get("content-type"), "text/plain");
  assert.equal(req.path, "/a b");
  assert.equal(req.scriptName, "/r");
  assert.equal(req.method, "GET");
});

test("encoding helpers", async () => {
  const { api } = await serveOnce("");
  assert.equal(api.escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  assert.equal(api.encodeComponent("Ada L!é*"), "Ada%20L%21%C3%A9%2A");
  assert.equal(api.decodeComponent("a+b%20c"), "a b c");
  assert.equal(api.percentDecode("a+b%20c"), "a+b c");
  const [media, params] = api.headerParams('multipart/form-data; boundary="a b\\"c"; charset=utf-8');
  assert.equal(media, "multipart/form-data");
  assert.equal(params.get("boundary"), 'a b"c');
  assert.equal(params.get("charset"), "utf-8");
  assert.equal(new api.TextDecoder().decode(new api.TextEncoder().encode("é")), "é");
});

test("malformed multipart bodies are a 400", async () => {
  const { api } = await serveOnce("");
  const bytes = (s) => new Uint8Array(Buffer.from(s, "latin1"));
  for (const [type, body] of [
    ["multipart/form-data", "--b\r\n\r\nx\r\n--b--"],
    ["multipart/form-data; boundary=b", "no boundary here"],
    ["multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"],
    ["multipart/form-data; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"],
    ["multipart/form-data; boundary=b", "--b\r\nno colon\r\n\r\nx\r\n--b--"],
  ]) {
    assert.throws(() => api.parseMultipart(type, bytes(body)), (e) => e instanceof api.HttpError && e.status === 400, body);
  }
  const form = api.parseMultipart("multipart/form-data; boundary=b", bytes('preamble\r\n--b\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n\r\n\x00\r\n--b--'));
  assert.equal(form.file("f").filename, "x.bin");
  assert.deepEqual([...form.file("f").data], [0]);
  assert.equal(form.file("f").contentType, "application/octet-stream");
});

test("responses: defaults, validation, cookies, redirects", async () => {
  const { api } = await serveOnce("");
  assert.equal(new api.Response("x").head(), "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n");
  assert.equal(new api.Response(null, { status: 204 }).head(), "Status: 204 No Content\n");
  assert.equal(new api.Response("", { status: 299 }).head(), "Status: 299\nContent-Type: text/plain; charset=utf-8\n");
  assert.equal(api.redirect("/ä b").header("location"), "/%C3%A4%20b");
  assert.equal(api.redirectLocal("/other").head(), "Location: /other\n");
  assert.throws(() => api.redirectLocal("//evil").head(), TypeError);
  assert.throws(() => api.redirect("/x", 200), TypeError);
  for (const [name, value] of [["Bad Name", "x"], ["X", "a\r\nb"], ["Status", "200"], ["Location", ""], ["Content-Length", "1"]]) {
    assert.throws(() => api.text("x").set(name, value).head(), TypeError, name);
  }
  assert.equal(api.text("x").set("X-A", "1").set("x-a", "2").header("X-A"), "2");
  assert.equal(
    api.cookieHeader("id", "a1", { path: "/", maxAge: 60.7, secure: true, httpOnly: true, sameSite: "Lax" }),
    "id=a1; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax",
  );
  assert.throws(() => api.cookieHeader("id", "a b"), TypeError);
  assert.throws(() => api.cookieHeader("i d", "a"), TypeError);
  assert.throws(() => api.cookieHeader("id", "a", { path: "/;x" }), TypeError);
});

test("handler failures", async () => {
  let r = await serveOnce('serve(() => { throw new Error("secret detail"); });');
  assert.equal(r.out, `Status: 500 Internal Server Error\nContent-Type: text/plain; charset=utf-8\nContent-Length: 22\n\nInternal Server Error\n`);
  assert.match(r.log.join("\n"), /secret detail/);
  r = await serveOnce('serve(() => { throw new HttpError(404, "no such page"); });');
  assert.equal(r.out, "Status: 404 Not Found\nContent-Type: text/plain; charset=utf-8\nContent-Length: 13\n\nno such page\n");
  r = await serveOnce('serve(() => "not a response");');
  assert.match(r.out, /^Status: 500 /);
  r = await serveOnce('serve(async () => { await null; return json({ a: [1] }, { status: 201 }); });');
  assert.equal(r.out, 'Status: 201 Created\nContent-Type: application/json\nContent-Length: 9\n\n{"a":[1]}');
  r = await serveOnce('serve(async () => { throw new HttpError(400, "bad"); });');
  assert.match(r.out, /^Status: 400 Bad Request\n/);
  await assert.rejects(serveOnce("serve(() => 1); serve(() => 2);"), TypeError);
});

test("classic scripts write their own response", async () => {
  const r = await serveOnce('const q = request().query.get("q"); print("Content-Type: text/plain"); print(); write(`q=${q}\\n`);', {
    env: { QUERY_STRING: "q=%C3%A9" },
  });
  assert.equal(r.out, "Content-Type: text/plain\n\nq=é\n");
});
