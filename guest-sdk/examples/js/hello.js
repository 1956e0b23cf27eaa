// hello: greets ?name=, else the `name` cookie, else the world.
// A wasi:http handler; build (from guest-sdk/, see README.md):
//   wit/wasi-0.2.10.sh /tmp/wit-0.2.10
//   js/node_modules/.bin/componentize-js examples/js/hello.js --wit /tmp/wit-0.2.10 --world-name http -o hello.wasm
import { cookie, query, serve, text } from "../../js/wasibin.js";

serve((req) => {
  const name = query(req).get("name") ?? cookie(req, "name") ?? "world";
  return text(`Hello, ${name}!\n`);
});
