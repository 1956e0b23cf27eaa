//! wasibin.zig: write wasibin handlers in Zig (0.17's std: `std.process.Init`, `std.Io`).
//!
//! A wasibin plugin is a WASI command: the request arrives as CGI variables
//! (RFC 3875) in the environment and the body on stdin; the response leaves on
//! stdout as a header block, a blank line and the body. `run` wires both ends:
//!
//!     const std = @import("std");
//!     const wasibin = @import("wasibin");
//!
//!     fn handle(req: *wasibin.Request, res: *wasibin.Response) !void {
//!         const name = (try req.query("name")) orelse "world";
//!         try res.header("Content-Type", "text/plain; charset=utf-8");
//!         try (try res.body()).print("Hello, {s}!\n", .{name});
//!     }
//!
//!     pub fn main(init: std.process.Init) u8 {
//!         return wasibin.run(init, handle);
//!     }
//!
//! Build: python3 -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -fstrip \
//!          --dep wasibin -Mroot=hello.zig -Mwasibin=guest-sdk/zig/wasibin.zig
//!
//! Headers are checked before they are written: a name that is not a token or
//! a value with CR, LF, NUL or another control character is refused with
//! `error.InvalidHeader` instead of splitting the header block. Everything is
//! allocated from the per-request arena, which dies with the process.

const std = @import("std");

/// The largest body `run` reads, whatever CONTENT_LENGTH claims; the host
/// bounds the body as well.
pub const max_body = 16 * 1024 * 1024;

/// A handler: reads `req`, writes `res`. An error before the body has begun
/// becomes a 500 (cause on stderr, which the host logs).
pub const Handler = fn (req: *Request, res: *Response) anyerror!void;

/// The whole `main` of a plugin: read the request, call `handler`, flush the
/// response. Returns the process exit code.
pub fn run(init: std.process.Init, comptime handler: Handler) u8 {
    const io = init.io;
    var out_buf: [16 * 1024]u8 = undefined;
    var stdout = std.Io.File.stdout().writerStreaming(io, &out_buf);
    var res = Response{ .w = &stdout.interface };

    var req = Request.read(init) catch |err| {
        std.log.err("reading the request failed: {t}", .{err});
        res.fail(400, "Bad Request");
        return flush(&res);
    };
    handler(&req, &res) catch |err| {
        std.log.err("handler failed: {t}", .{err});
        if (res.phase == .none) res.fail(500, "Internal Server Error");
    };
    return flush(&res);
}

fn flush(res: *Response) u8 {
    if (res.phase != .body) res.endHeaders() catch return 1;
    res.w.flush() catch return 1;
    return 0;
}

/// One request: its CGI variables and its body.
pub const Request = struct {
    env: *const std.process.Environ.Map,
    /// The request body: exactly CONTENT_LENGTH bytes, or stdin to end of
    /// file without one (see `readBody`).
    body: []const u8,
    /// Allocates decoded values; freed when the process ends.
    arena: std.mem.Allocator,

    /// Reads the request from the environment and stdin.
    pub fn read(init: std.process.Init) !Request {
        const arena = init.arena.allocator();
        var in_buf: [4096]u8 = undefined;
        var stdin = std.Io.File.stdin().readerStreaming(init.io, &in_buf);
        const body = try readBody(arena, init.environ_map, &stdin.interface);
        return .{ .env = init.environ_map, .body = body, .arena = arena };
    }

    /// Any CGI variable by name (`SERVER_NAME`, `X_FULL_URL`, ...).
    pub fn get(self: *const Request, name: []const u8) ?[]const u8 {
        return self.env.get(name);
    }

    /// REQUEST_METHOD, GET when absent (a plugin run by hand).
    pub fn method(self: *const Request) []const u8 {
        return self.get("REQUEST_METHOD") orelse "GET";
    }

    /// SCRIPT_NAME: the route the plugin is mounted on.
    pub fn scriptName(self: *const Request) []const u8 {
        return self.get("SCRIPT_NAME") orelse "";
    }

    /// PATH_INFO: the decoded path below the route.
    pub fn pathInfo(self: *const Request) []const u8 {
        return self.get("PATH_INFO") orelse "";
    }

    /// QUERY_STRING, still encoded.
    pub fn queryString(self: *const Request) []const u8 {
        return self.get("QUERY_STRING") orelse "";
    }

    /// CONTENT_TYPE.
    pub fn contentType(self: *const Request) []const u8 {
        return self.get("CONTENT_TYPE") orelse "";
    }

    /// Request header `name` ("User-Agent") from its HTTP_* variable.
    pub fn header(self: *const Request, name: []const u8) !?[]const u8 {
        if (std.ascii.eqlIgnoreCase(name, "content-type")) return self.get("CONTENT_TYPE");
        if (std.ascii.eqlIgnoreCase(name, "content-length")) return self.get("CONTENT_LENGTH");
        const key = try self.arena.alloc(u8, name.len + 5);
        @memcpy(key[0..5], "HTTP_");
        for (name, key[5..]) |c, *k| k.* = if (c == '-') '_' else std.ascii.toUpper(c);
        return self.get(key);
    }

    /// Query parameter `name`, decoded.
    pub fn query(self: *const Request, name: []const u8) !?[]const u8 {
        return param(self.arena, self.queryString(), name);
    }

    /// Cookie `name` as sent (not decoded).
    pub fn cookie(self: *const Request, name: []const u8) ?[]const u8 {
        const h = self.get("HTTP_COOKIE") orelse return null;
        var it = std.mem.splitScalar(u8, h, ';');
        while (it.next()) |piece| {
            const eq = std.mem.indexOfScalar(u8, piece, '=') orelse continue;
            if (!std.mem.eql(u8, std.mem.trim(u8, piece[0..eq], " \t"), name)) continue;
            const v = std.mem.trim(u8, piece[eq + 1 ..], " \t");
            if (v.len >= 2 and v[0] == '"' and v[v.len - 1] == '"') return v[1 .. v.len - 1];
            return v;
        }
        return null;
    }

    /// Text field `name` of an urlencoded or multipart form body, decoded;
    /// null when absent or when the body is not a form.
    pub fn formField(self: *const Request, name: []const u8) !?[]const u8 {
        const ct = self.contentType();
        if (mediaIs(ct, "application/x-www-form-urlencoded")) return param(self.arena, self.body, name);
        var parts = self.multipart() orelse return null;
        while (try parts.next()) |part| {
            if (part.filename == null and std.mem.eql(u8, part.name, name)) return part.data;
        }
        return null;
    }

    /// The parts of a multipart/form-data body; null for another body type
    /// or an invalid boundary.
    pub fn multipart(self: *const Request) ?Multipart {
        return Multipart.init(self.contentType(), self.body);
    }
};

/// One part of a multipart/form-data body; slices point into the body.
pub const Part = struct {
    /// The field name.
    name: []const u8,
    /// The client's file name, null for a plain field. Untrusted text, never a path.
    filename: ?[]const u8,
    /// The part's Content-Type (application/octet-stream when absent).
    content_type: []const u8,
    /// The field value or file contents.
    data: []const u8,
};

/// An iterator over a multipart/form-data body held in memory (RFC 7578).
pub const Multipart = struct {
    body: []const u8,
    pos: usize,
    delim_buf: [74]u8,
    delim_len: usize,
    done: bool = false,

    fn init(content_type: []const u8, body: []const u8) ?Multipart {
        if (!mediaIs(content_type, "multipart/form-data")) return null;
        const boundary = headerParam(content_type, "boundary") orelse return null;
        if (boundary.len == 0 or boundary.len > 70) return null;
        for (boundary) |c| {
            if (!std.ascii.isAlphanumeric(c) and std.mem.indexOfScalar(u8, "'()+_,-./:=? ", c) == null) return null;
        }
        var m = Multipart{ .body = body, .pos = 0, .delim_buf = undefined, .delim_len = boundary.len + 4 };
        @memcpy(m.delim_buf[0..4], "\r\n--");
        @memcpy(m.delim_buf[4..m.delim_len], boundary);
        const d = m.delim();
        if (std.mem.startsWith(u8, body, d[2..])) {
            m.pos = d.len - 2;
        } else {
            const at = std.mem.indexOf(u8, body, d) orelse return null;
            m.pos = at + d.len;
        }
        return m;
    }

    fn delim(self: *const Multipart) []const u8 {
        return self.delim_buf[0..self.delim_len];
    }

    /// The next part, null at the end; `error.MalformedMultipart` answers 400.
    pub fn next(self: *Multipart) error{MalformedMultipart}!?Part {
        if (self.done) return null;
        var rest = self.body[self.pos..];
        if (std.mem.startsWith(u8, rest, "--")) {
            self.done = true;
            return null;
        }
        rest = std.mem.trimStart(u8, rest, " \t");
        if (!std.mem.startsWith(u8, rest, "\r\n")) return error.MalformedMultipart;
        rest = rest[2..];
        const part_len = std.mem.indexOf(u8, rest, self.delim()) orelse return error.MalformedMultipart;
        const part = rest[0..part_len];
        const head_end = std.mem.indexOf(u8, part, "\r\n\r\n") orelse return error.MalformedMultipart;
        var result = Part{ .name = "", .filename = null, .content_type = "application/octet-stream", .data = part[head_end + 4 ..] };
        var have_name = false;
        var lines = std.mem.splitSequence(u8, part[0..head_end], "\r\n");
        while (lines.next()) |line| {
            const colon = std.mem.indexOfScalar(u8, line, ':') orelse return error.MalformedMultipart;
            const value = std.mem.trim(u8, line[colon + 1 ..], " \t");
            if (std.ascii.eqlIgnoreCase(line[0..colon], "content-disposition")) {
                if (!mediaIs(value, "form-data")) return error.MalformedMultipart;
                if (headerParam(value, "name")) |n| {
                    result.name = n;
                    have_name = true;
                }
                result.filename = headerParam(value, "filename");
            } else if (std.ascii.eqlIgnoreCase(line[0..colon], "content-type")) {
                result.content_type = value;
            }
        }
        if (!have_name) return error.MalformedMultipart;
        self.pos = self.body.len - rest.len + part_len + self.delim_len;
        return result;
    }
};

/// Whether header value `value` starts with the media type `kind`.
fn mediaIs(value: []const u8, kind: []const u8) bool {
    const v = std.mem.trimStart(u8, value, " \t");
    if (v.len < kind.len or !std.ascii.eqlIgnoreCase(v[0..kind.len], kind)) return false;
    return v.len == kind.len or v[kind.len] == ';' or v[kind.len] == ' ' or v[kind.len] == '\t';
}

/// Parameter `name` of a header value like `form-data; name="a"`, quotes
/// removed (backslash escapes are left as sent).
fn headerParam(value: []const u8, name: []const u8) ?[]const u8 {
    var i = std.mem.indexOfScalar(u8, value, ';') orelse return null;
    while (i < value.len) {
        while (i < value.len and (value[i] == ';' or value[i] == ' ' or value[i] == '\t')) i += 1;
        const key_start = i;
        while (i < value.len and value[i] != '=' and value[i] != ';') i += 1;
        if (i >= value.len or value[i] == ';') continue;
        const key = std.mem.trim(u8, value[key_start..i], " \t");
        i += 1;
        while (i < value.len and (value[i] == ' ' or value[i] == '\t')) i += 1;
        var v: []const u8 = undefined;
        if (i < value.len and value[i] == '"') {
            const start = i + 1;
            i = start;
            while (i < value.len and value[i] != '"') : (i += 1) {
                if (value[i] == '\\' and i + 1 < value.len) i += 1;
            }
            v = value[start..@min(i, value.len)];
            i += 1;
        } else {
            const start = i;
            while (i < value.len and value[i] != ';') i += 1;
            v = std.mem.trim(u8, value[start..i], " \t");
        }
        if (std.ascii.eqlIgnoreCase(key, name)) return v;
    }
    return null;
}

/// The first value of `name` in urlencoded `data`, decoded.
pub fn param(arena: std.mem.Allocator, data: []const u8, name: []const u8) !?[]const u8 {
    var it = std.mem.splitScalar(u8, data, '&');
    while (it.next()) |piece| {
        if (piece.len == 0) continue;
        const eq = std.mem.indexOfScalar(u8, piece, '=') orelse piece.len;
        const key = try urlDecode(arena, piece[0..eq]);
        if (!std.mem.eql(u8, key, name)) continue;
        return try urlDecode(arena, if (eq < piece.len) piece[eq + 1 ..] else "");
    }
    return null;
}

/// Decodes a form component: `+` is a space, %XX a byte; a stray `%` stays.
pub fn urlDecode(arena: std.mem.Allocator, s: []const u8) ![]const u8 {
    const out = try arena.alloc(u8, s.len);
    var o: usize = 0;
    var i: usize = 0;
    while (i < s.len) : (i += 1) {
        if (s[i] == '+') {
            out[o] = ' ';
        } else if (s[i] == '%' and i + 2 < s.len and std.ascii.isHex(s[i + 1]) and std.ascii.isHex(s[i + 2])) {
            out[o] = std.fmt.parseInt(u8, s[i + 1 .. i + 3], 16) catch unreachable;
            i += 2;
        } else {
            out[o] = s[i];
        }
        o += 1;
    }
    return out[0..o];
}

/// Percent-encodes all but RFC 3986's unreserved characters: safe in a URL,
/// a form and a cookie value.
pub fn urlEncode(arena: std.mem.Allocator, s: []const u8) ![]const u8 {
    const out = try arena.alloc(u8, s.len * 3);
    var o: usize = 0;
    for (s) |c| {
        if (std.ascii.isAlphanumeric(c) or c == '-' or c == '.' or c == '_' or c == '~') {
            out[o] = c;
            o += 1;
        } else {
            const hex = "0123456789ABCDEF";
            out[o] = '%';
            out[o + 1] = hex[c >> 4];
            out[o + 2] = hex[c & 15];
            o += 3;
        }
    }
    return out[0..o];
}

/// Writes `s` with & < > " ' escaped, safe in HTML text and quoted attributes.
pub fn writeHtml(w: *std.Io.Writer, s: []const u8) !void {
    var start: usize = 0;
    for (s, 0..) |c, i| {
        const rep: []const u8 = switch (c) {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            else => continue,
        };
        try w.writeAll(s[start..i]);
        try w.writeAll(rep);
        start = i + 1;
    }
    try w.writeAll(s[start..]);
}

/// The response under construction: status, then headers, then the body.
pub const Response = struct {
    w: *std.Io.Writer,
    phase: enum { none, headers, body } = .none,
    content_type: bool = false,
    location: bool = false,

    /// Sets the status (200..=599); first, once. Without it the answer is 200.
    pub fn status(self: *Response, code: u16) !void {
        if (self.phase != .none or code < 200 or code > 599) return error.InvalidStatus;
        try self.w.print("Status: {d} {s}\n", .{ code, reason(code) });
        self.phase = .headers;
    }

    /// Adds a header line; repeatable (several Set-Cookie). Refused with
    /// `error.InvalidHeader` (nothing written) for a name that is not a
    /// token or is "Status", a value with a control character, a second
    /// Content-Type, or once the body has begun.
    pub fn header(self: *Response, name: []const u8, value: []const u8) !void {
        if (self.phase == .body or name.len == 0 or std.ascii.eqlIgnoreCase(name, "status")) return error.InvalidHeader;
        for (name) |c| if (!isTchar(c)) return error.InvalidHeader;
        for (value) |c| if ((c < 0x20 and c != '\t') or c == 0x7f) return error.InvalidHeader;
        if (std.ascii.eqlIgnoreCase(name, "location")) {
            if (value.len == 0) return error.InvalidHeader;
            for (value) |c| if (c <= 0x20 or c >= 0x7f) return error.InvalidHeader;
            self.location = true;
        }
        if (std.ascii.eqlIgnoreCase(name, "content-type")) {
            if (self.content_type) return error.InvalidHeader;
            self.content_type = true;
        }
        try self.w.print("{s}: {s}\n", .{ name, value });
        if (self.phase == .none) self.phase = .headers;
    }

    /// Adds `Set-Cookie: name=value; attributes`. The value must be
    /// cookie-safe (pass it through `urlEncode` first); `error.InvalidHeader`
    /// otherwise.
    pub fn setCookie(self: *Response, name: []const u8, value: []const u8, attributes: []const u8) !void {
        if (name.len == 0) return error.InvalidHeader;
        for (name) |c| if (!isTchar(c)) return error.InvalidHeader;
        for (value) |c| {
            if (c <= 0x20 or c >= 0x7f or c == '"' or c == ',' or c == ';' or c == '\\') return error.InvalidHeader;
        }
        for (attributes) |c| if (c < 0x20 or c == 0x7f) return error.InvalidHeader;
        if (self.phase == .body) return error.InvalidHeader;
        try self.w.print("Set-Cookie: {s}={s}{s}{s}\n", .{ name, value, if (attributes.len > 0) "; " else "", attributes });
        if (self.phase == .none) self.phase = .headers;
    }

    /// Ends the header block (adding a text/plain Content-Type unless one was
    /// set or this is a redirect) and returns the body writer.
    pub fn body(self: *Response) !*std.Io.Writer {
        try self.endHeaders();
        return self.w;
    }

    fn endHeaders(self: *Response) !void {
        if (self.phase == .body) return;
        if (!self.content_type and !self.location) try self.w.writeAll("Content-Type: text/plain; charset=utf-8\n");
        try self.w.writeAll("\n");
        self.phase = .body;
    }

    /// A complete client redirect (301, 302, 303, 307, 308) to `url`, which
    /// must be visible ASCII (`urlEncode` the parts that are not).
    pub fn redirect(self: *Response, code: u16, url: []const u8) !void {
        switch (code) {
            301, 302, 303, 307, 308 => {},
            else => return error.InvalidStatus,
        }
        try self.status(code);
        try self.header("Location", url);
        try self.endHeaders();
    }

    /// Asks the host to serve `path` (an absolute path here) instead, as a
    /// GET: RFC 3875's local redirect. Must be the whole response.
    pub fn redirectLocal(self: *Response, path: []const u8) !void {
        if (self.phase != .none or path.len == 0 or path[0] != '/' or std.mem.startsWith(u8, path, "//")) return error.InvalidHeader;
        try self.header("Location", path);
        try self.endHeaders();
    }

    /// A complete plain-text response with `code` and `message` (shown to the client).
    pub fn fail(self: *Response, code: u16, message: []const u8) void {
        self.status(code) catch return;
        self.header("Content-Type", "text/plain; charset=utf-8") catch return;
        const w = self.body() catch return;
        w.print("{s}\n", .{message}) catch return;
    }
};

/// The body `env` announces, read from `in`: exactly CONTENT_LENGTH bytes,
/// none when it is empty, and `in` to end of file when it is absent. The host
/// streams a chunked upload that way (with HTTP_TRANSFER_ENCODING=chunked, as
/// Apache's mod_cgi does) and gives a request without a body an empty stdin.
/// Either way a body over `max_body` is `error.BodyTooLarge`, which `run`
/// answers with a 400.
fn readBody(arena: std.mem.Allocator, env: *const std.process.Environ.Map, in: *std.Io.Reader) ![]const u8 {
    const len_text = env.get("CONTENT_LENGTH") orelse {
        return in.allocRemaining(arena, .limited(max_body)) catch |err| switch (err) {
            error.StreamTooLong => error.BodyTooLarge,
            else => |e| e,
        };
    };
    const len: usize = if (len_text.len == 0) 0 else try std.fmt.parseInt(usize, len_text, 10);
    if (len > max_body) return error.BodyTooLarge;
    if (len == 0) return &.{};
    return in.readAllocAll(arena, len);
}

fn isTchar(c: u8) bool {
    return std.ascii.isAlphanumeric(c) or std.mem.indexOfScalar(u8, "!#$%&'*+-.^_`|~", c) != null;
}

fn reason(code: u16) []const u8 {
    return switch (code) {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        else => "",
    };
}

test "urlDecode and param" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const a = arena.allocator();
    try std.testing.expectEqualStrings("a b+c%", try urlDecode(a, "a+b%2Bc%"));
    try std.testing.expectEqualStrings("Ada", (try param(a, "x=1&&firstname=Ada", "firstname")).?);
    try std.testing.expect((try param(a, "x=1", "y")) == null);
    try std.testing.expectEqualStrings("Ada%20L", try urlEncode(a, "Ada L"));
}

test "multipart" {
    const body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
    var m = Multipart.init("multipart/form-data; boundary=b", body).?;
    const p1 = (try m.next()).?;
    try std.testing.expectEqualStrings("a", p1.name);
    try std.testing.expectEqualStrings("1", p1.data);
    const p2 = (try m.next()).?;
    try std.testing.expectEqualStrings("x.txt", p2.filename.?);
    try std.testing.expectEqualStrings("hi", p2.data);
    try std.testing.expect((try m.next()) == null);
}

test "header validation" {
    var buf: [256]u8 = undefined;
    var w = std.Io.Writer.fixed(&buf);
    var res = Response{ .w = &w };
    try std.testing.expectError(error.InvalidHeader, res.header("X-A", "a\r\nb"));
    try std.testing.expectError(error.InvalidHeader, res.header("Bad Name", "v"));
    try std.testing.expectError(error.InvalidHeader, res.setCookie("a", "b;c", ""));
    try res.header("X-A", "ok");
    _ = try res.body();
    try std.testing.expectEqualStrings("X-A: ok\nContent-Type: text/plain; charset=utf-8\n\n", w.buffered());
}

test "body: CONTENT_LENGTH bytes, or to end of file without it" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const a = arena.allocator();
    var env = std.process.Environ.Map.init(a);
    try env.put("REQUEST_METHOD", "POST");
    try env.put("HTTP_TRANSFER_ENCODING", "chunked");

    var chunked: std.Io.Reader = .fixed("a=1&b=2");
    const body = try readBody(a, &env, &chunked);
    try std.testing.expectEqualStrings("1", (try param(a, body, "a")).?);
    try std.testing.expectEqualStrings("2", (try param(a, body, "b")).?);
    var empty: std.Io.Reader = .fixed("");
    try std.testing.expectEqualStrings("", try readBody(a, &env, &empty));
    const long = try a.alloc(u8, max_body + 1);
    @memset(long, 'x');
    var most: std.Io.Reader = .fixed(long[0..max_body]);
    try std.testing.expectEqual(max_body, (try readBody(a, &env, &most)).len);
    var over: std.Io.Reader = .fixed(long);
    try std.testing.expectError(error.BodyTooLarge, readBody(a, &env, &over));

    // With CONTENT_LENGTH: exactly that many bytes, as before.
    try env.put("CONTENT_LENGTH", "5");
    var exact: std.Io.Reader = .fixed("helloEXTRA");
    try std.testing.expectEqualStrings("hello", try readBody(a, &env, &exact));
    try env.put("CONTENT_LENGTH", "");
    var ignored: std.Io.Reader = .fixed("ignored");
    try std.testing.expectEqualStrings("", try readBody(a, &env, &ignored));
    try env.put("CONTENT_LENGTH", "16777217");
    try std.testing.expectError(error.BodyTooLarge, readBody(a, &env, &ignored));
    try env.put("CONTENT_LENGTH", "10");
    var short: std.Io.Reader = .fixed("short");
    try std.testing.expectError(error.EndOfStream, readBody(a, &env, &short));
}
