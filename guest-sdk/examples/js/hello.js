// hello: greets ?name=, else the `name` cookie, else the world.
// A wasi:http handler; build (from guest-sdk/, see README.md):
//   js/node_modules/.bin/componentize-js examples/js/hello.js --wit WIT_0_2_10 --world-name http -o hello.wasm
import { cookie, query, serve, text } from "../../js/wasibin.js";

serve((req) => {
  const name = query(req).get("name") ?? cookie(req, "name") ?? "world";
  return text(`Hello, ${name}!\n`);
});
