// The Go examples: one module, a package per handler, on the SDK in
// guest-sdk/go through a local replace (no download, no go.sum).
module example.invalid/wasibin-examples

go 1.21

require example.invalid/wasibin v0.0.0

replace example.invalid/wasibin => ../../go
