// hello: greets ?name=, else the `name` cookie, else the world.
// Build: see guest-sdk/README.md ("write a handler in AssemblyScript").
import { Request, Response, run } from "../../assemblyscript/wasibin";

function handle(req: Request, res: Response): void {
  let name = req.query("name");
  if (name === null) name = req.cookie("name");
  res.header("Content-Type", "text/plain; charset=utf-8");
  res.write("Hello, " + (name !== null ? name : "world") + "!\n");
}

run(handle);
