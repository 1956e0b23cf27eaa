// Test program for wasibin.ts's output side (run by guest-sdk/tests/assemblyscript_sdk.rs):
// every call that would corrupt the header block must return false and write nothing.
// The hostile value comes from the environment, as a handler's input would.
import { Request, Response, run } from "../wasibin";

let failures = 0;

function expectRefused(ok: bool, what: string): void {
  if (ok) {
    process.stderr.write("not refused: " + what + "\n");
    failures++;
  }
}

function handle(req: Request, res: Response): void {
  const evil = req.get("EVIL");
  const value = evil !== null ? evil : "";
  expectRefused(res.status(99), "status 99");
  expectRefused(res.status(600), "status 600");
  expectRefused(res.header("X-Evil", value), "value from EVIL");
  expectRefused(res.header("X-Del", "a\x7f"), "DEL in value");
  expectRefused(res.header("Bad Name", "v"), "space in name");
  expectRefused(res.header("", "v"), "empty name");
  expectRefused(res.header("Status", "200 OK"), "Status as a header");
  expectRefused(res.header("Location", "/a b"), "space in Location");
  expectRefused(res.setCookie("a", value, ""), "cookie value from EVIL");
  expectRefused(res.setCookie("a", "b;c", ""), "semicolon in cookie");
  expectRefused(res.redirect(200, "/x"), "redirect with 200");
  expectRefused(res.redirectLocal("//evil.example/"), "network-path local redirect");
  if (!res.status(201)) failures++;
  if (!res.header("Content-Type", "text/plain")) failures++;
  expectRefused(res.header("Content-Type", "text/html"), "second Content-Type");
  if (!res.setCookie("ok", "1", "Path=/")) failures++;
  res.write("body " + failures.toString() + "\n");
  expectRefused(res.header("X-Late", "v"), "header after the body");
}

run(handle);
