// wasibin.js: helpers for wasibin handlers in JavaScript (componentize-js,
// a wasi:http component). One ES module, no dependencies; componentize-js
// evaluates it at build time, with the handler that imports it, into the
// component's snapshot.
//
//   import { serve, text } from "../../js/wasibin.js";
//   serve((req) => text(`Hello, ${new URL(req.url).searchParams.get("name") ?? "world"}!\n`));
//
// The handler gets the request as a fetch `Request` (method, URL with the
// path and query, headers, body) and returns a `Response` (or a promise of
// one). What StarlingMonkey, componentize-js 0.23.0's engine, has and lacks:
// URL, URLSearchParams, TextEncoder/TextDecoder, Headers, Request and
// Response work; `Request.formData()` parses urlencoded bodies but breaks
// file uploads (a File's content comes out as the decimal values of its
// bytes run together: "line" reads "108105110101"), so `readForm` parses
// multipart bodies itself. Response headers keep their order when given as
// `[name, value]` pairs, as the helpers here do; a `Headers` object is
// iterated in sorted order (the Fetch standard's), so a response built from
// one reaches the server with `allow` before `content-type`.
//
// The answers match the Rust crate `wasibin-guest`'s: the same bodies,
// statuses, cookie syntax and escaping.

export const DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8";

/** Throw from a handler to answer `status` with `message` (text/plain). */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ------------------------------------------------------------- encoding

const utf8 = new TextEncoder();
const utf8Lossy = new TextDecoder("utf-8", { fatal: false });
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

/** Escapes `& < > " '` so text can sit in HTML content or an attribute. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );
}

function isUnreserved(b) {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

const HEX = "0123456789ABCDEF";

/** Percent-encodes every UTF-8 byte but `A-Z a-z 0-9 - . _ ~` (stricter than
 * encodeURIComponent, which leaves `! ' ( ) *`): safe in a query, a form, a
 * path segment and a cookie value. */
export function encodeComponent(text) {
  let out = "";
  for (const b of utf8.encode(String(text))) {
    out += isUnreserved(b) ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

function hexValue(b) {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

function decode(text, plusIsSpace) {
  const input = utf8.encode(String(text));
  const out = new Uint8Array(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (b === 0x2b && plusIsSpace) {
      out[n++] = 0x20;
    } else if (b === 0x25 && i + 2 < input.length && hexValue(input[i + 1]) >= 0 && hexValue(input[i + 2]) >= 0) {
      out[n++] = (hexValue(input[i + 1]) << 4) | hexValue(input[i + 2]);
      i += 2;
    } else {
      out[n++] = b;
    }
  }
  return utf8Lossy.decode(out.subarray(0, n));
}

/** Decodes a form or query component: `+` to space, `%XX` to its byte; a `%`
 * without two hex digits stays literal (decodeURIComponent would throw);
 * invalid UTF-8 becomes U+FFFD. */
export function decodeComponent(text) {
  return decode(text, true);
}

/** Decodes `%XX` only (`+` stays `+`), the rule for paths. */
export function percentDecode(text) {
  return decode(text, false);
}

// ------------------------------------------------------------- request

/** The request's path (`/js/form`): wasi:http has no SCRIPT_NAME, so this is
 * the whole path the server received, without the query. */
export function path(request) {
  return new URL(request.url).pathname;
}

/** The query's decoded parameters, a URLSearchParams. */
export function query(request) {
  return new URL(request.url).searchParams;
}

/** The request's cookies as `[name, value]` pairs, values raw. */
export function cookies(request) {
  const pairs = [];
  for (const piece of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = piece.indexOf("=");
    if (eq < 0) continue;
    const name = piece.slice(0, eq).trim();
    let value = piece.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name) pairs.push([name, value]);
  }
  return pairs;
}

/** One cookie's raw value, or null. */
export function cookie(request, name) {
  for (const [n, v] of cookies(request)) {
    if (n === name) return v;
  }
  return null;
}

/** A form body's fields and files. */
export class Form {
  constructor(fields = [], files = []) {
    /** `[name, value]` pairs in request order. */
    this.fields = fields;
    /** `{ name, filename, contentType, data: Uint8Array }` in request order. */
    this.files = files;
  }

  /** The first value of field `name`, or null. */
  get(name) {
    for (const [n, v] of this.fields) {
      if (n === name) return v;
    }
    return null;
  }

  getAll(name) {
    return this.fields.filter(([n]) => n === name).map(([, v]) => v);
  }

  /** The first uploaded file of field `name`, or null. */
  file(name) {
    return this.files.find((f) => f.name === name) ?? null;
  }
}

/** Splits `type/sub; a=1; b="x y"` into the media type and its parameters
 * (names lowercased; quoted values unquoted). */
export function headerParams(value) {
  const params = new Map();
  let i = value.indexOf(";");
  const media = (i < 0 ? value : value.slice(0, i)).trim().toLowerCase();
  while (i >= 0 && i < value.length) {
    i++;
    const eq = value.indexOf("=", i);
    if (eq < 0) break;
    const name = value.slice(i, eq).trim().toLowerCase();
    let j = eq + 1;
    while (value[j] === " " || value[j] === "\t") j++;
    let v = "";
    if (value[j] === '"') {
      j++;
      while (j < value.length && value[j] !== '"') {
        if (value[j] === "\\" && j + 1 < value.length) j++;
        v += value[j++];
      }
      j = value.indexOf(";", j);
    } else {
      const end = value.indexOf(";", j);
      v = (end < 0 ? value.slice(j) : value.slice(j, end)).trim();
      j = end;
    }
    if (name && !params.has(name)) params.set(name, v);
    i = j;
  }
  return [media, params];
}

function indexOfBytes(haystack, needle, from) {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i >= 0 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let k = 1;
    while (k < needle.length && haystack[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}

function malformed(why) {
  return new HttpError(400, `malformed multipart body: ${why}`);
}

/** Parses a `multipart/form-data` body (a Uint8Array) into a Form. */
export function parseMultipart(contentType, body) {
  const boundary = headerParams(contentType)[1].get("boundary");
  if (!boundary || boundary.length > 70 || !/^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new HttpError(400, "multipart body without a valid boundary");
  }
  const dash = utf8.encode("--" + boundary);
  const delimiter = utf8.encode("\r\n--" + boundary);
  const fields = [];
  const files = [];
  let pos;
  if (body.length >= dash.length && indexOfBytes(body.subarray(0, dash.length), dash, 0) === 0) {
    pos = dash.length;
  } else {
    const at = indexOfBytes(body, delimiter, 0);
    if (at < 0) throw malformed("no opening boundary");
    pos = at + delimiter.length;
  }
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // "--": the closing delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw malformed("boundary not followed by CRLF");
    pos += 2;
    const end = indexOfBytes(body, delimiter, pos);
    if (end < 0) throw malformed("part without closing boundary");
    const part = body.subarray(pos, end);
    pos = end + delimiter.length;
    let head;
    let data;
    if (part[0] === 0x0d && part[1] === 0x0a) {
      head = "";
      data = part.subarray(2);
    } else {
      const blank = indexOfBytes(part, CRLFCRLF, 0);
      if (blank < 0) throw malformed("part headers not ended");
      try {
        head = utf8Strict.decode(part.subarray(0, blank));
      } catch {
        throw malformed("part headers not UTF-8");
      }
      data = part.subarray(blank + 4);
    }
    let disposition = null;
    let type = null;
    for (const line of head.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon < 0) throw malformed("part header line without a colon");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === "content-disposition") disposition = line.slice(colon + 1).trim();
      else if (name === "content-type") type = line.slice(colon + 1).trim();
    }
    if (disposition === null) throw malformed("part without Content-Disposition");
    const [kind, params] = headerParams(disposition);
    if (kind !== "form-data") throw malformed("part disposition is not form-data");
    const name = params.get("name");
    if (name === undefined) throw malformed("part without a field name");
    const filename = params.get("filename");
    if (filename === undefined) {
      fields.push([name, utf8Lossy.decode(data)]);
    } else {
      files.push({ name, filename, contentType: type ?? "application/octet-stream", data });
    }
  }
  return new Form(fields, files);
}

/** The body as a Form: urlencoded or multipart; another type is a 415. */
export async function readForm(request) {
  const contentType = request.headers.get("content-type") ?? "";
  const [media] = headerParams(contentType);
  const body = new Uint8Array(await request.arrayBuffer());
  if (media === "application/x-www-form-urlencoded") {
    return new Form([...new URLSearchParams(utf8Lossy.decode(body))]);
  }
  if (media === "multipart/form-data") {
    return parseMultipart(contentType, body);
  }
  if (body.length === 0) return new Form();
  throw new HttpError(415, `the body is not a form (Content-Type ${JSON.stringify(contentType)})`);
}

// ------------------------------------------------------------- response

function withType(type, headers) {
  return [["content-type", type], ...(headers ?? [])];
}

/** 200 (or `status`) text/plain; charset=utf-8. `headers`: more [name, value] pairs. */
export function text(body, { status = 200, headers } = {}) {
  return new Response(body, { status, headers: withType(DEFAULT_CONTENT_TYPE, headers) });
}

/** 200 (or `status`) text/html; charset=utf-8. Escape what came from the request. */
export function html(body, { status = 200, headers } = {}) {
  return new Response(body, { status, headers: withType("text/html; charset=utf-8", headers) });
}

/** `status` with `message` as text, the way the Rust crate answers errors. */
export function error(status, message) {
  return text(`${message}\n`, { status });
}

export function notFound() {
  return error(404, "Not Found");
}

/** 405 with the `Allow` header listing what the handler accepts. */
export function methodNotAllowed(...allowed) {
  return text("Method Not Allowed\n", { status: 405, headers: [["allow", allowed.join(", ")]] });
}

function escapeLocation(url) {
  let out = "";
  for (const b of utf8.encode(String(url))) {
    out += b > 0x20 && b < 0x7f ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** A client redirect (301, 302, 303, 307 or 308) to a URL or a path on this
 * server, with no body. (`Response.redirect` wants an absolute URL.) */
export function redirect(url, status = 302) {
  if (![301, 302, 303, 307, 308].includes(status)) {
    throw new TypeError(`a redirect's status must be 301, 302, 303, 307 or 308, not ${status}`);
  }
  return new Response(null, { status, headers: [["location", escapeLocation(url)]] });
}

/** 303 See Other: the answer to a POST, so a reload does not resubmit. */
export function seeOther(url) {
  return redirect(url, 303);
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** `name=value; Path=...` for a Set-Cookie header; throws a TypeError for a
 * name that is not a token or a value that needs encoding (encodeComponent). */
export function cookieHeader(name, value, { path, domain, maxAge, expires, secure, httpOnly, sameSite } = {}) {
  const inner = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  if (!TOKEN.test(name)) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  if (!COOKIE_VALUE.test(inner)) throw new TypeError(`invalid cookie value ${JSON.stringify(value)}`);
  const attr = (n, v) => {
    if (/[;\x00-\x1f\x7f]/.test(String(v))) throw new TypeError(`invalid cookie attribute ${n}`);
    return `; ${n}=${v}`;
  };
  let out = `${name}=${value}`;
  if (path !== undefined) out += attr("Path", path);
  if (domain !== undefined) out += attr("Domain", domain);
  if (maxAge !== undefined) out += `; Max-Age=${Math.trunc(maxAge)}`;
  if (expires !== undefined) out += attr("Expires", expires);
  if (secure) out += "; Secure";
  if (httpOnly) out += "; HttpOnly";
  if (sameSite !== undefined) {
    if (!["Strict", "Lax", "None"].includes(sameSite)) throw new TypeError("SameSite must be Strict, Lax or None");
    out += `; SameSite=${sameSite}`;
  }
  return out;
}

// ------------------------------------------------------------- serving

/** Runs `handler(request)`: an HttpError answers its status and message;
 * any other exception (or a header the Response refuses) is a 500 with the
 * cause on stderr, which is the server's log, and nothing of it in the page. */
export async function dispatch(request, handler) {
  try {
    const response = await handler(request);
    if (!(response instanceof Response)) {
      throw new TypeError(`the handler returned ${String(response)}, not a Response`);
    }
    return response;
  } catch (e) {
    if (e instanceof HttpError) return error(e.status, e.message);
    console.error(`wasibin: the handler failed: ${e && e.stack ? `${e}\n${e.stack}` : e}`);
    return error(500, "Internal Server Error");
  }
}

/** Makes `handler` the component's wasi:http/incoming-handler (the fetch
 * event). Call it once, at the module's top level. */
export function serve(handler) {
  addEventListener("fetch", (event) => event.respondWith(dispatch(event.request, handler)));
}
