// hello greets ?name=, else the name cookie, else the world.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -ldflags=-s -trimpath -o hello.wasm ./hello
package main

import "example.invalid/wasibin"

func handle(req *wasibin.Request) (*wasibin.Response, error) {
	name, ok := req.Query().Get("name")
	if !ok {
		name, ok = req.Cookie("name")
	}
	if !ok {
		name = "world"
	}
	return wasibin.Text("Hello, " + name + "!\n"), nil
}

func main() {
	wasibin.Run(handle)
}
