// Test program for wasibin.ts's body read (run by guest-sdk/tests/sdk_assemblyscript.rs):
// prints the body's length and its fields a and b; `run` answers 400 for a
// body it refused (truncated, or over MAX_BODY).
import { Request, Response, run } from "../wasibin";

function field(req: Request, name: string): string {
  const v = req.formField(name);
  return v !== null ? v : "-";
}

function handle(req: Request, res: Response): void {
  res.header("Content-Type", "text/plain");
  res.write(req.body.length.toString() + " bytes, a=" + field(req, "a") + " b=" + field(req, "b") + "\n");
}

run(handle);
