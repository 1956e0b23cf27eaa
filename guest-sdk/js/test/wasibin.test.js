// Unit tests of wasibin.js and the examples' handlers under Node's own
// Request/Response: `node --test guest-sdk/js/test/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as wb from "../wasibin.js";

const FILE = new Uint8Array([...new TextEncoder().encode("line 1\r\n--not-the-boundary\r\n"), 0, 0xff, 0xfe, ...new TextEncoder().encode(" end")]);
function concat(...parts) {
  const chunks = parts.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let i = 0;
  for (const c of chunks) { out.set(c, i); i += c.length; }
  return out;
}
const MULTIPART = concat(
  '--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="firstname"\r\n\r\nAda\r\n',
  '--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="upload"; filename="notes <1>.txt"\r\nContent-Type: application/octet-stream\r\n\r\n',
  FILE, "\r\n--wasibin-7MA4YWxk--\r\n");
const MP_TYPE = "multipart/form-data; boundary=wasibin-7MA4YWxk";
const UE = { "content-type": "application/x-www-form-urlencoded" };

// The examples call serve() at import: capture the handler it registers.
const handlers = [];
globalThis.addEventListener = (type, listener) => handlers.push(listener);
async function load(path) {
  handlers.length = 0;
  await import(path);
  const listener = handlers[0];
  return (req) => new Promise((resolve) => listener({ request: req, respondWith: (p) => resolve(p) }));
}
const hello = await load("../../examples/js/hello.js");
const form = await load("../../examples/js/form.js");
const req = (method, path, headers = {}, body) => new Request(`http://127.0.0.1${path}`, { method, headers, body });
// Node's Headers iterate sorted, as the Fetch standard says; the order a
// response's headers reach wasibin in is checked on the built component.
const dump = async (resp) => [resp.status, [...resp.headers], await resp.text()];

test("encoding", () => {
  assert.equal(wb.escapeHtml(`<b>Tom & "Jerry"'</b>`), "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&#39;&lt;/b&gt;");
  assert.equal(wb.encodeComponent("Ada L/é!*'()"), "Ada%20L%2F%C3%A9%21%2A%27%28%29");
  assert.equal(wb.decodeComponent("a+b%20c%zz%4"), "a b c%zz%4");
  assert.equal(wb.decodeComponent("%ff"), "\ufffd");
  assert.equal(wb.percentDecode("a+b"), "a+b");
});

test("cookies and params", () => {
  const r = req("GET", "/", { cookie: 'theme=dark; name=Bob; q="x y"; bad; =z' });
  assert.deepEqual(wb.cookies(r), [["theme", "dark"], ["name", "Bob"], ["q", "x y"]]);
  assert.equal(wb.cookie(r, "name"), "Bob");
  assert.equal(wb.cookie(r, "none"), null);
  const [media, params] = wb.headerParams('form-data; name="a\\"b"; filename="x;y.txt"; n=1');
  assert.equal(media, "form-data");
  assert.deepEqual([...params], [["name", 'a"b'], ["filename", "x;y.txt"], ["n", "1"]]);
});

test("multipart", () => {
  const f = wb.parseMultipart(MP_TYPE, MULTIPART);
  assert.equal(f.get("firstname"), "Ada");
  const up = f.file("upload");
  assert.deepEqual([up.filename, up.contentType, [...up.data]], ["notes <1>.txt", "application/octet-stream", [...FILE]]);
  let seed = 7;
  const rand = (n) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 0; i < 300; i++) {
    const data = new Uint8Array(rand(200)).map(() => [13, 10, 45, 0, 255, 97][rand(6)]);
    const body = concat('--XyZ\r\nContent-Disposition: form-data; name="up"; filename="f\u00e9.bin"\r\n\r\n', data, "\r\n--XyZ--\r\n");
    const g = wb.parseMultipart("multipart/form-data; boundary=XyZ", body);
    assert.deepEqual([...g.file("up").data], [...data]);
    assert.equal(g.file("up").filename, "f\u00e9.bin");
  }
  for (const [type, body] of [["multipart/form-data", "x"], [MP_TYPE, "garbage"], [MP_TYPE, "--wasibin-7MA4YWxk\r\n\r\nx"]]) {
    assert.throws(() => wb.parseMultipart(type, new TextEncoder().encode(body)), (e) => e instanceof wb.HttpError && e.status === 400);
  }
});

test("responses", async () => {
  assert.deepEqual(await dump(wb.methodNotAllowed("GET", "POST")),
    [405, [["allow", "GET, POST"], ["content-type", "text/plain; charset=utf-8"]], "Method Not Allowed\n"]);
  assert.deepEqual(await dump(wb.seeOther("/a b")), [303, [["location", "/a%20b"]], ""]);
  assert.equal(wb.cookieHeader("a", "1", { path: "/", maxAge: 60, secure: true, httpOnly: true, sameSite: "Lax" }),
    "a=1; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax");
  for (const bad of ["a b", "a;b", "é"]) assert.throws(() => wb.cookieHeader("a", bad), TypeError);
  const failing = await wb.dispatch(req("GET", "/"), () => { throw new Error("boom"); });
  assert.deepEqual(await dump(failing), [500, [["content-type", "text/plain; charset=utf-8"]], "Internal Server Error\n"]);
  const teapot = await wb.dispatch(req("GET", "/"), () => { throw new wb.HttpError(418, "teapot"); });
  assert.deepEqual(await dump(teapot), [418, [["content-type", "text/plain; charset=utf-8"]], "teapot\n"]);
});

test("hello", async () => {
  assert.deepEqual(await dump(await hello(req("GET", "/js/hello?x&name=Ada%20L"))),
    [200, [["content-type", "text/plain; charset=utf-8"]], "Hello, Ada L!\n"]);
  assert.equal(await (await hello(req("GET", "/js/hello", { cookie: "theme=dark; name=Bob" }))).text(), "Hello, Bob!\n");
  assert.equal(await (await hello(req("GET", "/js/hello"))).text(), "Hello, world!\n");
});

test("form", async () => {
  const [status, headers, page] = await dump(await form(req("POST", "/js/form", UE, "x=1&firstname=%3Cscript%3EAda+L")));
  assert.equal(status, 200);
  assert.deepEqual(headers, [["content-type", "text/html; charset=utf-8"], ["set-cookie", "firstname=%3Cscript%3EAda%20L; Path=/"]]);
  assert.equal(page, '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Hello</title></head><body>\n' +
    '<h1>Hello, &lt;script&gt;Ada L!</h1>\n<p><a href="/js/form">Back to the form</a></p>\n</body></html>\n');
  const mp = await (await form(req("POST", "/js/form", { "content-type": MP_TYPE }, MULTIPART))).text();
  assert.match(mp, /<h1>Hello, Ada!<\/h1>\n<p>Received notes &lt;1&gt;.txt: 35 bytes<\/p>\n/);
  const back = await (await form(req("GET", "/js/form", { cookie: "firstname=Ada%20L" }))).text();
  assert.match(back, /<p>Welcome back, Ada L!<\/p>\n<form method="post" action="\/js\/form"/);
  assert.deepEqual(await dump(await form(req("POST", "/js/form", UE, "firstname="))), [303, [["location", "/js/form"]], ""]);
  const put = await form(req("PUT", "/js/form"));
  assert.deepEqual([put.status, put.headers.get("allow")], [405, "GET, POST"]);
  assert.equal((await form(req("POST", "/js/form", { "content-type": "application/json" }, "{}"))).status, 415);
});
