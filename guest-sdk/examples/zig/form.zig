//! form: the tutorials' POST form. GET shows the form (and greets a returning
//! visitor by cookie); POST, urlencoded or multipart, greets `firstname`,
//! lists an uploaded file and remembers the name in a cookie. No name sends
//! the browser back to the form (303); other methods get 405.
//! Build: python3 -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -fstrip \
//!          --dep wasibin -Mroot=form.zig -Mwasibin=../../zig/wasibin.zig
const std = @import("std");
const wasibin = @import("wasibin");

fn formPage(req: *wasibin.Request, res: *wasibin.Response) !void {
    try res.header("Content-Type", "text/html; charset=utf-8");
    const w = try res.body();
    try w.writeAll("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Form</title></head><body>\n");
    if (req.cookie("firstname")) |cookie| {
        try w.writeAll("<p>Welcome back, ");
        try wasibin.writeHtml(w, try wasibin.urlDecode(req.arena, cookie));
        try w.writeAll("!</p>\n");
    }
    try w.writeAll("<form method=\"post\" action=\"");
    try wasibin.writeHtml(w, req.scriptName());
    try w.writeAll("\" enctype=\"multipart/form-data\">\n" ++
        "<label>First name: <input name=\"firstname\"></label>\n" ++
        "<input type=\"file\" name=\"upload\">\n" ++
        "<input type=\"submit\" value=\"Submit\">\n" ++
        "</form>\n</body></html>\n");
}

fn greet(req: *wasibin.Request, res: *wasibin.Response) !void {
    const name = (req.formField("firstname") catch return res.fail(400, "Bad Request")) orelse "";
    if (name.len == 0) return res.redirect(303, req.scriptName());
    try res.status(200);
    try res.header("Content-Type", "text/html; charset=utf-8");
    try res.setCookie("firstname", try wasibin.urlEncode(req.arena, name), "Path=/");
    const w = try res.body();
    try w.writeAll("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body>\n<h1>Hello, ");
    try wasibin.writeHtml(w, name);
    try w.writeAll("!</h1>\n");
    if (req.multipart()) |parts_const| {
        var parts = parts_const;
        while (parts.next() catch null) |part| {
            const filename = part.filename orelse continue;
            if (filename.len == 0 or !std.mem.eql(u8, part.name, "upload")) continue;
            try w.writeAll("<p>Received ");
            try wasibin.writeHtml(w, filename);
            try w.print(": {d} bytes</p>\n", .{part.data.len});
            break;
        }
    }
    try w.writeAll("<p><a href=\"");
    try wasibin.writeHtml(w, req.scriptName());
    try w.writeAll("\">Back to the form</a></p>\n</body></html>\n");
}

fn handle(req: *wasibin.Request, res: *wasibin.Response) !void {
    if (std.mem.eql(u8, req.pathInfo(), "/missing")) {
        try res.status(404);
        try res.header("Content-Type", "text/plain; charset=utf-8");
        return (try res.body()).writeAll("Not Found\n");
    }
    // A local redirect: the server answers with the form itself.
    if (std.mem.eql(u8, req.pathInfo(), "/again")) return res.redirectLocal(req.scriptName());
    const method = req.method();
    if (std.mem.eql(u8, method, "GET") or std.mem.eql(u8, method, "HEAD")) return formPage(req, res);
    if (std.mem.eql(u8, method, "POST")) return greet(req, res);
    try res.status(405);
    try res.header("Allow", "GET, POST");
    try (try res.body()).writeAll("Method Not Allowed\n");
}

pub fn main(init: std.process.Init) u8 {
    return wasibin.run(init, handle);
}
