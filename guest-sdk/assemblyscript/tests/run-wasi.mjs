// Runs a WASI command module under Node's WASI with the current environment
// and stdio: enough to test an SDK module without a wasibin server.
//   node run-wasi.mjs module.wasm
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const wasi = new WASI({ version: "preview1", args: [process.argv[2]], env: process.env, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
