// wasibin.ts: write wasibin handlers in AssemblyScript (with @assemblyscript/wasi-shim).
//
// A wasibin plugin is a WASI command: the request arrives as CGI variables
// (RFC 3875) in the environment and the body on stdin; the response leaves on
// stdout as a header block, a blank line and the body.
//
//     import { Request, Response, run } from "../../assemblyscript/wasibin";
//
//     function handle(req: Request, res: Response): void {
//       const name = req.query("name");
//       res.header("Content-Type", "text/plain; charset=utf-8");
//       res.write("Hello, " + (name !== null ? name : "world") + "!\n");
//     }
//
//     run(handle);
//
// Build (from guest-sdk/assemblyscript, after `npm ci`):
//   npx asc ../examples/assemblyscript/hello.ts --config node_modules/@assemblyscript/wasi-shim/asconfig.json \
//     --runtime stub -O3 -o hello.wasm
//
// AssemblyScript has no exceptions to catch, so every call that can be
// refused returns false (or null) instead: a header whose name is not a token
// or whose value has CR, LF, NUL or another control character is never
// written, and the reason goes to stderr (the host's log).

/** The largest body read, whatever CONTENT_LENGTH claims; the host bounds it too. */
export const MAX_BODY: i32 = 16 * 1024 * 1024;

/** One part of a multipart/form-data body. */
export class Part {
  /** The field name. */
  name: string = "";
  /** The client's file name, null for a plain field. Untrusted text, never a path. */
  filename: string | null = null;
  /** The part's Content-Type (application/octet-stream when absent). */
  contentType: string = "application/octet-stream";
  /** The field value or file contents. */
  data: Uint8Array = new Uint8Array(0);

  /** The data as UTF-8 text. */
  text(): string {
    return utf8(this.data, 0, this.data.length);
  }
}

/** One request: its CGI variables and its body. */
export class Request {
  env: Map<string, string>;
  /** The request body: exactly CONTENT_LENGTH bytes, or stdin to end of file
   * without one (empty when it fell short or went past MAX_BODY). */
  body: Uint8Array;
  /** Whether the body arrived whole; `run` answers 400 when it did not. */
  complete: bool = true;

  constructor(env: Map<string, string>, body: Uint8Array) {
    this.env = env;
    this.body = body;
  }

  /** Reads the request from the environment and stdin: exactly
   * CONTENT_LENGTH bytes, none when it is empty, and stdin to end of file
   * when it is absent. The host streams a chunked upload that way (with
   * HTTP_TRANSFER_ENCODING=chunked, as Apache's mod_cgi does) and gives a
   * request without a body an empty stdin. A body over MAX_BODY, announced
   * or streamed, leaves `complete` false. */
  static read(): Request {
    const env = process.env;
    if (!env.has("CONTENT_LENGTH")) {
      const streamed = readToEnd();
      const req = new Request(env, streamed === null ? new Uint8Array(0) : streamed);
      req.complete = streamed !== null;
      return req;
    }
    let len: i32 = 0;
    let ok = true;
    const text = env.get("CONTENT_LENGTH");
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57 || len > MAX_BODY / 10) {
        ok = false;
        break;
      }
      len = len * 10 + (c - 48);
    }
    if (len > MAX_BODY) ok = false;
    if (!ok) len = 0;
    const body = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = process.stdin.read(body.buffer, got);
      if (n <= 0) break;
      got += n;
    }
    const req = new Request(env, got == len ? body : new Uint8Array(0));
    req.complete = ok && got == len;
    return req;
  }

  /** Any CGI variable by name, null when absent. */
  get(name: string): string | null {
    return this.env.has(name) ? this.env.get(name) : null;
  }

  private getOr(name: string, fallback: string): string {
    return this.env.has(name) ? this.env.get(name) : fallback;
  }

  /** REQUEST_METHOD, GET when absent (a plugin run by hand). */
  method(): string {
    return this.getOr("REQUEST_METHOD", "GET");
  }

  /** SCRIPT_NAME: the route the plugin is mounted on. */
  scriptName(): string {
    return this.getOr("SCRIPT_NAME", "");
  }

  /** PATH_INFO: the decoded path below the route. */
  pathInfo(): string {
    return this.getOr("PATH_INFO", "");
  }

  /** QUERY_STRING, still encoded. */
  queryString(): string {
    return this.getOr("QUERY_STRING", "");
  }

  /** CONTENT_TYPE. */
  contentType(): string {
    return this.getOr("CONTENT_TYPE", "");
  }

  /** Request header `name` ("User-Agent") from its HTTP_* variable. */
  header(name: string): string | null {
    const key = name.toUpperCase().replaceAll("-", "_");
    if (key == "CONTENT_TYPE" || key == "CONTENT_LENGTH") return this.get(key);
    return this.get("HTTP_" + key);
  }

  /** Query parameter `name`, decoded. */
  query(name: string): string | null {
    const q = Uint8Array.wrap(String.UTF8.encode(this.queryString()));
    return param(q, name);
  }

  /** Cookie `name` as sent (not decoded). */
  cookie(name: string): string | null {
    const h = this.get("HTTP_COOKIE");
    if (h === null) return null;
    const pieces = h.split(";");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      const eq = piece.indexOf("=");
      if (eq < 0 || piece.substring(0, eq).trim() != name) continue;
      let v = piece.substring(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.substring(1, v.length - 1);
      return v;
    }
    return null;
  }

  /** Text field `name` of an urlencoded or multipart body, decoded; null when absent. */
  formField(name: string): string | null {
    if (mediaIs(this.contentType(), "application/x-www-form-urlencoded")) return param(this.body, name);
    const parts = this.parts();
    if (parts === null) return null;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p.filename === null && p.name == name) return p.text();
    }
    return null;
  }

  /** The parts of a multipart/form-data body; null when the body is not one or is malformed. */
  parts(): Part[] | null {
    return parseMultipart(this.contentType(), this.body);
  }
}

/** The response under construction: status, then headers, then the body. */
export class Response {
  private buf: Uint8Array = new Uint8Array(4096);
  private len: i32 = 0;
  /** 0: nothing written, 1: in the headers, 2: in the body. */
  phase: i32 = 0;
  private hasType: bool = false;
  private hasLocation: bool = false;

  /** Sets the status (200..=599); first, once. Without it the answer is 200. */
  status(code: i32): bool {
    if (this.phase != 0 || code < 200 || code > 599) return refuse("status " + code.toString());
    this.append("Status: " + code.toString() + " " + reason(code) + "\n");
    this.phase = 1;
    return true;
  }

  /** Adds a header line (repeatable). Refused for a name that is not a token
   *  or is Status, a value with a control character, a second Content-Type,
   *  or once the body has begun. */
  header(name: string, value: string): bool {
    if (this.phase == 2 || !isToken(name) || name.toLowerCase() == "status") return refuse("header " + name);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if ((c < 0x20 && c != 9) || c == 0x7f) return refuse("header " + name);
    }
    const lower = name.toLowerCase();
    if (lower == "location") {
      if (value.length == 0) return refuse("Location");
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c <= 0x20 || c >= 0x7f) return refuse("Location");
      }
      this.hasLocation = true;
    }
    if (lower == "content-type") {
      if (this.hasType) return refuse("second Content-Type");
      this.hasType = true;
    }
    this.append(name + ": " + value + "\n");
    if (this.phase == 0) this.phase = 1;
    return true;
  }

  /** Adds `Set-Cookie: name=value; attributes`; the value must be cookie-safe
   *  (pass it through urlEncode first). */
  setCookie(name: string, value: string, attributes: string): bool {
    if (!isToken(name)) return refuse("cookie " + name);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f || c == 34 || c == 44 || c == 59 || c == 92) return refuse("cookie " + name);
    }
    return this.header("Set-Cookie", name + "=" + value + (attributes.length > 0 ? "; " + attributes : ""));
  }

  /** Ends the header block (adding a text/plain Content-Type unless one was
   *  set or this is a redirect). The body writers call it by themselves. */
  endHeaders(): void {
    if (this.phase == 2) return;
    if (!this.hasType && !this.hasLocation) this.append("Content-Type: text/plain; charset=utf-8\n");
    this.append("\n");
    this.phase = 2;
  }

  /** Appends text to the body. */
  write(text: string): void {
    this.endHeaders();
    this.append(text);
  }

  /** Appends text to the body with & < > " ' escaped. */
  writeHtml(text: string): void {
    this.write(escapeHtml(text));
  }

  /** Appends bytes to the body. */
  writeBytes(data: Uint8Array): void {
    this.endHeaders();
    this.appendBytes(data);
  }

  /** A complete client redirect (301, 302, 303, 307, 308) to `url` (visible ASCII). */
  redirect(code: i32, url: string): bool {
    if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) return refuse("redirect status");
    if (!this.status(code) || !this.header("Location", url)) return false;
    this.endHeaders();
    return true;
  }

  /** Asks the host to serve `path` (an absolute path here) instead, as a GET:
   *  RFC 3875's local redirect. Must be the whole response. */
  redirectLocal(path: string): bool {
    if (this.phase != 0 || !path.startsWith("/") || path.startsWith("//")) return refuse("local redirect");
    if (!this.header("Location", path)) return false;
    this.endHeaders();
    return true;
  }

  /** A complete plain-text response with `code` and `message` (shown to the client). */
  fail(code: i32, message: string): void {
    if (this.phase != 0) return;
    this.status(code);
    this.header("Content-Type", "text/plain; charset=utf-8");
    this.write(message + "\n");
  }

  /** Writes everything to stdout in one go. */
  finish(): void {
    this.endHeaders();
    process.stdout.write(this.buf.slice(0, this.len).buffer);
  }

  private append(text: string): void {
    this.appendBytes(Uint8Array.wrap(String.UTF8.encode(text)));
  }

  private appendBytes(data: Uint8Array): void {
    if (this.len + data.length > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + data.length) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(data, this.len);
    this.len += data.length;
  }
}

/** The whole program of a plugin: read the request, call `handler`, write the response. */
export function run(handler: (req: Request, res: Response) => void): void {
  const req = Request.read();
  const res = new Response();
  if (!req.complete) {
    res.fail(400, "Bad Request");
  } else {
    handler(req, res);
  }
  res.finish();
}

/** stdin to end of file, null past MAX_BODY bytes. The buffer starts at 4 KiB
 * and doubles (the stub runtime never frees: the buffers of a body add up to
 * less than four times its size), up to MAX_BODY + 1 bytes: filling that is
 * one byte too many. */
function readToEnd(): Uint8Array | null {
  let buf = new Uint8Array(min<i32>(4096, MAX_BODY + 1));
  let got = 0;
  while (true) {
    if (got == buf.length) {
      if (got > MAX_BODY) return null;
      const bigger = new Uint8Array(got > MAX_BODY / 2 ? MAX_BODY + 1 : got * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const n = process.stdin.read(buf.buffer, got);
    if (n <= 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Escapes & < > " ' so text is inert in HTML content and quoted attributes. */
export function escapeHtml(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Decodes a form component: `+` is a space, %XX a byte; a stray `%` stays. */
export function urlDecode(s: string): string {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  return decodeRange(b, 0, b.length);
}

/** Percent-encodes all but RFC 3986's unreserved characters. */
export function urlEncode(s: string): string {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  const hex = "0123456789ABCDEF";
  let out = "";
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126) {
      out += String.fromCharCode(c);
    } else {
      out += "%" + hex.charAt(c >> 4) + hex.charAt(c & 15);
    }
  }
  return out;
}

function refuse(what: string): bool {
  process.stderr.write("wasibin.ts: refused " + what + "\n");
  return false;
}

function utf8(b: Uint8Array, start: i32, end: i32): string {
  return String.UTF8.decodeUnsafe(b.dataStart + <usize>start, <usize>(end - start));
}

function hexValue(c: u8): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function decodeRange(b: Uint8Array, start: i32, end: i32): string {
  const out = new Uint8Array(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c == 43) {
      out[o++] = 32;
    } else if (c == 37 && i + 2 < end && hexValue(b[i + 1]) >= 0 && hexValue(b[i + 2]) >= 0) {
      out[o++] = <u8>(hexValue(b[i + 1]) * 16 + hexValue(b[i + 2]));
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return utf8(out, 0, o);
}

/** The first value of `name` in urlencoded bytes, decoded. */
function param(data: Uint8Array, name: string): string | null {
  let start = 0;
  while (start <= data.length) {
    let end = start;
    while (end < data.length && data[end] != 38) end++;
    let eq = start;
    while (eq < end && data[eq] != 61) eq++;
    if (end > start && decodeRange(data, start, eq) == name) {
      return eq < end ? decodeRange(data, eq + 1, end) : "";
    }
    start = end + 1;
  }
  return null;
}

function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) < 0) return false;
  }
  return true;
}

function mediaIs(value: string, kind: string): bool {
  const v = value.trimStart().toLowerCase();
  if (!v.startsWith(kind)) return false;
  if (v.length == kind.length) return true;
  const next = v.charAt(kind.length);
  return next == ";" || next == " " || next == "\t";
}

/** Parameter `name` of a header value like `form-data; name="a"`, quotes removed. */
function headerParam(value: string, name: string): string | null {
  let i = value.indexOf(";");
  if (i < 0) return null;
  while (i < value.length) {
    while (i < value.length && (value.charAt(i) == ";" || value.charAt(i) == " " || value.charAt(i) == "\t")) i++;
    const keyStart = i;
    while (i < value.length && value.charAt(i) != "=" && value.charAt(i) != ";") i++;
    if (i >= value.length || value.charAt(i) == ";") continue;
    const key = value.substring(keyStart, i).trim().toLowerCase();
    i++;
    while (i < value.length && (value.charAt(i) == " " || value.charAt(i) == "\t")) i++;
    let v = "";
    if (i < value.length && value.charAt(i) == '"') {
      const start = i + 1;
      i = start;
      while (i < value.length && value.charAt(i) != '"') {
        if (value.charAt(i) == "\\" && i + 1 < value.length) i++;
        i++;
      }
      v = value.substring(start, i);
      i++;
    } else {
      const start = i;
      while (i < value.length && value.charAt(i) != ";") i++;
      v = value.substring(start, i).trim();
    }
    if (key == name) return v;
  }
  return null;
}

function find(hay: Uint8Array, from: i32, to: i32, needle: Uint8Array): i32 {
  const n = needle.length;
  for (let i = from; i + n <= to; i++) {
    if (hay[i] != needle[0]) continue;
    let j = 1;
    while (j < n && hay[i + j] == needle[j]) j++;
    if (j == n) return i;
  }
  return -1;
}

function parseMultipart(contentType: string, body: Uint8Array): Part[] | null {
  if (!mediaIs(contentType, "multipart/form-data")) return null;
  const boundary = headerParam(contentType, "boundary");
  if (boundary === null || boundary.length == 0 || boundary.length > 70) return null;
  for (let i = 0; i < boundary.length; i++) {
    const c = boundary.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && "'()+_,-./:=? ".indexOf(String.fromCharCode(c)) < 0) return null;
  }
  const delim = Uint8Array.wrap(String.UTF8.encode("\r\n--" + boundary));
  const crlf2 = Uint8Array.wrap(String.UTF8.encode("\r\n\r\n"));
  let pos: i32;
  if (find(body, 0, delim.length - 2, delim.subarray(2)) == 0) {
    pos = delim.length - 2;
  } else {
    const at = find(body, 0, body.length, delim);
    if (at < 0) return null;
    pos = at + delim.length;
  }
  const parts = new Array<Part>();
  while (true) {
    if (pos + 1 < body.length && body[pos] == 45 && body[pos + 1] == 45) return parts;
    while (pos < body.length && (body[pos] == 32 || body[pos] == 9)) pos++;
    if (pos + 1 >= body.length || body[pos] != 13 || body[pos + 1] != 10) return null;
    pos += 2;
    const next = find(body, pos, body.length, delim);
    if (next < 0) return null;
    const headEnd = find(body, pos, next, crlf2);
    if (headEnd < 0) return null;
    const part = new Part();
    part.data = body.slice(headEnd + 4, next);
    const lines = utf8(body, pos, headEnd).split("\r\n");
    let haveName = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      if (colon < 0) return null;
      const key = line.substring(0, colon).trim().toLowerCase();
      const value = line.substring(colon + 1).trim();
      if (key == "content-disposition") {
        if (!mediaIs(value, "form-data")) return null;
        const n = headerParam(value, "name");
        if (n !== null) {
          part.name = n;
          haveName = true;
        }
        part.filename = headerParam(value, "filename");
      } else if (key == "content-type") {
        part.contentType = value;
      }
    }
    if (!haveName) return null;
    parts.push(part);
    pos = next + delim.length;
  }
}

function reason(code: i32): string {
  switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    default: return "";
  }
}
