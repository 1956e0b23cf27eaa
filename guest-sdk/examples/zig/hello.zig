//! hello: greets ?name=, else the `name` cookie, else the world.
//! Build: python3 -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -fstrip \
//!          --dep wasibin -Mroot=hello.zig -Mwasibin=../../zig/wasibin.zig
const std = @import("std");
const wasibin = @import("wasibin");

fn handle(req: *wasibin.Request, res: *wasibin.Response) !void {
    const name = (try req.query("name")) orelse req.cookie("name") orelse "world";
    try res.header("Content-Type", "text/plain; charset=utf-8");
    try (try res.body()).print("Hello, {s}!\n", .{name});
}

pub fn main(init: std.process.Init) u8 {
    return wasibin.run(init, handle);
}
