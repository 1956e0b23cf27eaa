// prelude.js: the JS API of wasibin's QuickJS interpreter. quickjs.wasm
// evaluates this function expression before the script and calls it with
// its native `host` object and the global object; it defines the API as
// globals (serve, text, html, Request, Response...) and returns the two
// entry points the interpreter calls: `run()`, which answers the request
// with the handler the script registered, and `endInit()`, which ends the
// script's top level and says whether it registered one.
//
// Plain JavaScript with no engine-specific feature: node runs it under
// test/prelude.test.js with a fake `host`. The answers match the Rust crate
// `wasibin-guest` and guest-sdk/js/wasibin.js: the same bodies, statuses,
// cookie syntax and escaping.
(function (host, global) {
  "use strict";

  const DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8";

  /** Throw from a handler to answer `status` with `message` (text/plain). */
  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.name = "HttpError";
      this.status = status;
    }
  }

  // ----------------------------------------------------------- encoding

  const utf8Encode = host.utf8Encode;
  const utf8Decode = host.utf8Decode;

  /** Escapes `& < > " '` so text can sit in HTML content or an attribute. */
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) =>
      c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
    );
  }

  const HEX = "0123456789ABCDEF";

  function isUnreserved(b) {
    return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
  }

  /** Percent-encodes every UTF-8 byte but `A-Z a-z 0-9 - . _ ~`: safe in a
   * query, a form, a path segment and a cookie value. */
  function encodeComponent(text) {
    let out = "";
    for (const b of utf8Encode(String(text))) {
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
    text = String(text);
    if (text.indexOf("%") < 0) return plusIsSpace ? text.replace(/\+/g, " ") : text;
    const input = utf8Encode(text);
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
    return utf8Decode(out.subarray(0, n), false);
  }

  /** Decodes a form or query component: `+` to space, `%XX` to its byte; a
   * `%` without two hex digits stays literal; invalid UTF-8 becomes U+FFFD. */
  function decodeComponent(text) {
    return decode(text, true);
  }

  /** Decodes `%XX` only (`+` stays `+`), the rule for paths. */
  function percentDecode(text) {
    return decode(text, false);
  }

  /** The minimal TextEncoder of the Encoding standard (UTF-8 only). */
  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(text = "") {
      return utf8Encode(String(text));
    }
  }

  /** The minimal TextDecoder of the Encoding standard (UTF-8 only). */
  class TextDecoder {
    constructor(label = "utf-8", { fatal = false } = {}) {
      if (!/^\s*(utf-?8|unicode-1-1-utf-8)\s*$/i.test(label)) {
        throw new RangeError(`TextDecoder: only UTF-8 is supported, not ${JSON.stringify(label)}`);
      }
      this.fatal = Boolean(fatal);
    }
    get encoding() {
      return "utf-8";
    }
    decode(bytes = new Uint8Array(0)) {
      const view = bytes instanceof Uint8Array ? bytes
        : ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : new Uint8Array(bytes);
      return utf8Decode(view, this.fatal);
    }
  }

  // ----------------------------------------------------------- request

  /** An ordered multimap of `[name, value]` pairs (the query, a form's
   * fields, the request headers), like URLSearchParams. */
  class Params {
    constructor(pairs = [], foldCase = false) {
      this.pairs = pairs;
      this.foldCase = foldCase;
    }
    key(name) {
      return this.foldCase ? String(name).toLowerCase() : String(name);
    }
    /** The first value of `name`, or null. */
    get(name) {
      const k = this.key(name);
      for (const [n, v] of this.pairs) if (n === k) return v;
      return null;
    }
    getAll(name) {
      const k = this.key(name);
      return this.pairs.filter(([n]) => n === k).map(([, v]) => v);
    }
    has(name) {
      return this.get(name) !== null;
    }
    keys() {
      return this.pairs.map(([n]) => n)[Symbol.iterator]();
    }
    entries() {
      return this.pairs[Symbol.iterator]();
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    get size() {
      return this.pairs.length;
    }
  }

  /** Parses `a=1&b=x+y` (a query or an urlencoded body) into Params. */
  function parseQuery(text) {
    const pairs = [];
    for (const piece of String(text).split("&")) {
      if (piece === "") continue;
      const eq = piece.indexOf("=");
      pairs.push(eq < 0 ? [decodeComponent(piece), ""] : [decodeComponent(piece.slice(0, eq)), decodeComponent(piece.slice(eq + 1))]);
    }
    return new Params(pairs);
  }

  /** Parses a Cookie header into `[name, value]` pairs, values raw (a
   * quoted value loses its quotes). */
  function parseCookies(header) {
    const pairs = [];
    for (const piece of String(header ?? "").split(";")) {
      const eq = piece.indexOf("=");
      if (eq < 0) continue;
      const name = piece.slice(0, eq).trim();
      let value = piece.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name) pairs.push([name, value]);
    }
    return pairs;
  }

  /** A form body's fields (Params) and uploaded files. */
  class Form {
    constructor(fields = [], files = []) {
      /** `[name, value]` pairs in request order. */
      this.fields = fields;
      /** `{ name, filename, contentType, data: Uint8Array }` in request order. */
      this.files = files;
    }
    /** The first value of field `name`, or null. */
    get(name) {
      for (const [n, v] of this.fields) if (n === name) return v;
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
  function headerParams(value) {
    value = String(value);
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

  const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);
  const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/;

  /** Parses a `multipart/form-data` body (a Uint8Array) into a Form; file
   * contents stay bytes (subarrays of the body). */
  function parseMultipart(contentType, body) {
    const boundary = headerParams(contentType)[1].get("boundary");
    if (!boundary || boundary.length > 70 || !BOUNDARY.test(boundary)) {
      throw new HttpError(400, "multipart body without a valid boundary");
    }
    const dash = utf8Encode("--" + boundary);
    const delimiter = utf8Encode("\r\n--" + boundary);
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
          head = utf8Decode(part.subarray(0, blank), true);
        } catch {
          throw malformed("part headers not UTF-8");
        }
        data = part.subarray(blank + 4);
      }
      let disposition = null;
      let type = null;
      for (const line of head === "" ? [] : head.split("\r\n")) {
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
        fields.push([name, utf8Decode(data, false)]);
      } else {
        files.push({ name, filename, contentType: type ?? "application/octet-stream", data });
      }
    }
    return new Form(fields, files);
  }

  /** Parses a form body of `contentType`: urlencoded or multipart; an empty
   * body of no type is an empty form; another type is a 415. */
  function parseForm(contentType, body) {
    const [media] = headerParams(contentType ?? "");
    if (media === "application/x-www-form-urlencoded") {
      return new Form(parseQuery(utf8Decode(body, false)).pairs);
    }
    if (media === "multipart/form-data") return parseMultipart(contentType, body);
    if (body.length === 0) return new Form();
    throw new HttpError(415, `the body is not a form (Content-Type ${JSON.stringify(contentType ?? "")})`);
  }

  /** The request, from the CGI meta-variables (parsed when first used). */
  class Request {
    constructor(env, args) {
      /** Every CGI variable, as strings. */
      this.env = env;
      /** argv after the route and script: the sidecar's arguments, then an
       * ISINDEX query's words. */
      this.args = args;
      this.method = env.REQUEST_METHOD ?? "GET";
      /** The route the script is served at (`/hello`). */
      this.scriptName = env.SCRIPT_NAME ?? "";
      /** The path below the route (`/a/b` for `/hello/a/b`), decoded. */
      this.pathInfo = env.PATH_INFO ?? "";
      /** The same as `pathInfo`. */
      this.path = this.pathInfo;
      /** The query exactly as sent, still encoded. */
      this.queryString = env.QUERY_STRING ?? "";
      this.contentType = env.CONTENT_TYPE ?? null;
      this.cache = {};
    }
    /** The decoded query parameters (repeated names kept). */
    get query() {
      return (this.cache.query ??= parseQuery(this.queryString));
    }
    /** The request headers by lowercase name: HTTP_X_FOO is `x-foo`, and
     * CONTENT_TYPE and CONTENT_LENGTH are there too. */
    get headers() {
      if (this.cache.headers === undefined) {
        const pairs = [];
        for (const [name, value] of Object.entries(this.env)) {
          if (name.startsWith("HTTP_")) pairs.push([name.slice(5).toLowerCase().replace(/_/g, "-"), value]);
          else if (name === "CONTENT_TYPE" || name === "CONTENT_LENGTH") pairs.push([name.toLowerCase().replace("_", "-"), value]);
        }
        this.cache.headers = new Params(pairs, true);
      }
      return this.cache.headers;
    }
    /** One request header (any case), or null. */
    header(name) {
      return this.headers.get(name);
    }
    /** The cookies as `[name, value]` pairs, values raw. */
    cookies() {
      return (this.cache.cookies ??= parseCookies(this.env.HTTP_COOKIE));
    }
    /** One cookie's raw value, or null. */
    cookie(name) {
      for (const [n, v] of this.cookies()) if (n === name) return v;
      return null;
    }
    /** The body's bytes (a Uint8Array), read from stdin when first used. */
    get body() {
      return (this.cache.body ??= host.body());
    }
    /** The body as text (invalid UTF-8 becomes U+FFFD). */
    text() {
      return utf8Decode(this.body, false);
    }
    /** The body parsed as JSON; a syntax error is a 400. */
    json() {
      try {
        return JSON.parse(this.text());
      } catch (e) {
        throw new HttpError(400, `the body is not JSON: ${e.message}`);
      }
    }
    /** The body as a Form: urlencoded or multipart (files as bytes); another
     * type is a 415, a malformed multipart body a 400. */
    form() {
      return (this.cache.form ??= parseForm(this.contentType, this.body));
    }
  }

  // ----------------------------------------------------------- response

  const REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
    413: "Content Too Large", 415: "Unsupported Media Type", 418: "I'm a teapot",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
  };

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
  const LOCATION = /^[\x21-\x7e]+$/;

  /** A CGI response: a status, header pairs in order, and a body (a string,
   * a Uint8Array, or null). */
  class Response {
    constructor(body = null, { status = 200, headers = [] } = {}) {
      this.status = status;
      this.headers = Array.isArray(headers) ? headers.map(([n, v]) => [String(n), String(v)])
        : Object.entries(headers).map(([n, v]) => [n, String(v)]);
      this.body = body;
      /** A local redirect: the host serves `Location` itself (CGI 6.2.2). */
      this.local = false;
    }
    /** The first value of header `name` (any case), or null. */
    header(name) {
      const k = String(name).toLowerCase();
      for (const [n, v] of this.headers) if (n.toLowerCase() === k) return v;
      return null;
    }
    /** Sets header `name`, replacing any of that name. */
    set(name, value) {
      const k = String(name).toLowerCase();
      this.headers = this.headers.filter(([n]) => n.toLowerCase() !== k);
      this.headers.push([String(name), String(value)]);
      return this;
    }
    /** Adds a header line, keeping others of the same name. */
    append(name, value) {
      this.headers.push([String(name), String(value)]);
      return this;
    }
    /** Adds a Set-Cookie line (see `cookieHeader` for the options). */
    setCookie(name, value, options) {
      return this.append("Set-Cookie", cookieHeader(name, value, options));
    }
    /** The CGI header lines (each ending in "\n", without the blank line),
     * or a TypeError for a header that would break the header block. */
    head() {
      let head = "";
      if (!this.local) {
        const s = this.status;
        if (!Number.isInteger(s) || s < 200 || s > 599) throw new TypeError(`invalid status ${s}`);
        head = `Status: ${s}${REASONS[s] ? " " + REASONS[s] : ""}\n`;
      }
      let typed = false;
      for (const [name, value] of this.headers) {
        if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
        const lower = name.toLowerCase();
        if (lower === "status") throw new TypeError("Status is set with the response's status, not as a header");
        if (BAD_VALUE.test(value)) throw new TypeError(`invalid value for header ${name}`);
        if (lower === "location" && (!LOCATION.test(value) || (this.local && (!value.startsWith("/") || value.startsWith("//"))))) {
          throw new TypeError(`invalid Location ${JSON.stringify(value)}`);
        }
        if (lower === "content-type" || lower === "location") typed = true;
        if (lower === "content-length") throw new TypeError("Content-Length is computed, not set");
      }
      if (!typed && !this.local && ![204, 205, 304].includes(this.status)) {
        head += `Content-Type: ${DEFAULT_CONTENT_TYPE}\n`;
      }
      for (const [name, value] of this.headers) head += `${name}: ${value}\n`;
      return head;
    }
  }

  /** 200 (or `status`) text/plain; charset=utf-8. `headers`: more [name, value] pairs. */
  function text(body, { status = 200, headers = [] } = {}) {
    return new Response(String(body), { status, headers: [["Content-Type", DEFAULT_CONTENT_TYPE], ...headers] });
  }

  /** 200 (or `status`) text/html; charset=utf-8. Escape what came from the request. */
  function html(body, { status = 200, headers = [] } = {}) {
    return new Response(String(body), { status, headers: [["Content-Type", "text/html; charset=utf-8"], ...headers] });
  }

  /** 200 (or `status`) application/json of `JSON.stringify(value)`. */
  function json(value, { status = 200, headers = [] } = {}) {
    return new Response(JSON.stringify(value), { status, headers: [["Content-Type", "application/json"], ...headers] });
  }

  /** 200 (or `status`) with a Uint8Array body, application/octet-stream unless `type`. */
  function bytes(body, { status = 200, type = "application/octet-stream", headers = [] } = {}) {
    return new Response(body, { status, headers: [["Content-Type", type], ...headers] });
  }

  /** `status` with `message` as text, the way the Rust crate answers errors. */
  function error(status, message) {
    return text(`${message}\n`, { status });
  }

  function notFound() {
    return error(404, "Not Found");
  }

  /** 405 with the `Allow` header listing what the handler accepts. */
  function methodNotAllowed(...allowed) {
    return text("Method Not Allowed\n", { status: 405, headers: [["Allow", allowed.join(", ")]] });
  }

  function escapeLocation(url) {
    let out = "";
    for (const b of utf8Encode(String(url))) {
      out += b > 0x20 && b < 0x7f ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
    }
    return out;
  }

  /** A client redirect (301, 302, 303, 307 or 308) to a URL or a path on this
   * server, with no body. */
  function redirect(url, status = 302) {
    if (![301, 302, 303, 307, 308].includes(status)) {
      throw new TypeError(`a redirect's status must be 301, 302, 303, 307 or 308, not ${status}`);
    }
    return new Response(null, { status, headers: [["Location", escapeLocation(url)]] });
  }

  /** 303 See Other: the answer to a POST, so a reload does not resubmit. */
  function seeOther(url) {
    return redirect(url, 303);
  }

  /** A local redirect: the server answers with what `path` (on this
   * server, starting with one `/`) answers, and the client sees no redirect. */
  function redirectLocal(path) {
    const response = new Response(null, { headers: [["Location", String(path)]] });
    response.local = true;
    return response;
  }

  const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

  /** `name=value; Path=...` for a Set-Cookie header; throws a TypeError for a
   * name that is not a token or a value that needs encoding (encodeComponent). */
  function cookieHeader(name, value, { path, domain, maxAge, expires, secure, httpOnly, sameSite } = {}) {
    value = String(value);
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

  // ----------------------------------------------------------- serving

  let handler = null;
  let currentRequest = null;

  /** Makes `fn(request)` the script's handler: it returns a Response (or a
   * promise of one). Call it once, at the top level. */
  function serve(fn) {
    if (typeof fn !== "function") throw new TypeError("serve() takes the handler function");
    if (handler !== null) throw new TypeError("serve() was already called");
    handler = fn;
  }

  /** This request (for classic scripts; a handler gets it as its argument). */
  function request() {
    return (currentRequest ??= new Request(host.env(), host.args().slice(2)));
  }

  function describe(e) {
    return e && e.stack ? `${e}\n${e.stack}` : String(e);
  }

  function failure(e) {
    if (e instanceof HttpError) return error(e.status, e.message);
    host.log(`wasibin: the handler failed: ${describe(e)}`);
    return error(500, "Internal Server Error");
  }

  function send(response) {
    if (!(response instanceof Response)) {
      return send(failure(new TypeError(`the handler returned ${String(response)}, not a Response`)));
    }
    let head;
    try {
      head = response.head();
    } catch (e) {
      host.log(`wasibin: the handler returned an invalid response: ${e.message}`);
      return send(error(500, "Internal Server Error"));
    }
    const body = response.local ? null : response.body;
    host.respond(head, body, !response.local && ![204, 304].includes(response.status));
  }

  /** Answers this request with the handler. */
  function run() {
    let out;
    try {
      out = handler(request());
    } catch (e) {
      return send(failure(e));
    }
    if (out !== null && typeof out === "object" && typeof out.then === "function") {
      out.then(send, (e) => send(failure(e)));
    } else {
      send(out);
    }
  }

  // ----------------------------------------------------------- output

  /** Writes a string (as UTF-8) or a Uint8Array to stdout, as it stands:
   * a classic script writes its own header lines and blank line first. */
  function write(data) {
    host.write(data);
  }

  /** Writes the arguments joined by spaces, and a newline. */
  function print(...args) {
    host.write(args.map(String).join(" ") + "\n");
  }

  // stdout is the response: the console goes to stderr, the server's log.
  const log = (...args) => host.log(args.map((a) => (typeof a === "string" ? a : describe(a))).join(" "));
  const console = { log, info: log, warn: log, error: log, debug: log };

  // ----------------------------------------------------------- the clock

  // A snapshot freezes what its top level computed, so at init the clock
  // and the random generator are guarded (host.clock() and host.random()
  // throw and fail the init); Math.random is replaced for good by the
  // interpreter's generator, reseeded per request, and performance by one
  // whose origin is the request's start.
  let endGuards = () => {};
  if (host.patchIntrinsics !== false) {
    Object.defineProperty(Math, "random", { value: host.random, writable: true, configurable: true });
    global.performance = Object.freeze({
      now: host.now,
      get timeOrigin() {
        return host.timeOrigin();
      },
    });
    if (host.init) {
      const RealDate = Date;
      const now = () => {
        host.clock();
        return RealDate.now();
      };
      global.Date = new Proxy(RealDate, {
        construct(target, args, newTarget) {
          if (args.length === 0) host.clock();
          return Reflect.construct(target, args, newTarget);
        },
        apply() {
          host.clock();
          return RealDate();
        },
        get(target, key, receiver) {
          return key === "now" ? now : Reflect.get(target, key, receiver);
        },
      });
      endGuards = () => {
        global.Date = RealDate;
      };
    }
  }

  const api = {
    serve, request, Request, Response, Form, Params, HttpError,
    text, html, json, bytes, error, notFound, methodNotAllowed, redirect, seeOther, redirectLocal,
    cookieHeader, escapeHtml, encodeComponent, decodeComponent, percentDecode,
    parseQuery, parseCookies, parseForm, parseMultipart, headerParams,
    write, print, console, TextEncoder, TextDecoder,
  };
  for (const [name, value] of Object.entries(api)) {
    Object.defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
  }

  return {
    run,
    endInit() {
      endGuards();
      return handler !== null;
    },
  };
})
