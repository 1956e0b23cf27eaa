// hello: greets ?name=, else the `name` cookie, else the world.
// Build: clang++-19 --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -s -I guest-sdk/c -o hello.wasm hello.cpp
#include "wasibin.hpp"

int main() {
    auto name = wasibin::query("name");
    if (!name) name = wasibin::cookie("name");
    wasibin::header("Content-Type", "text/plain; charset=utf-8");
    wasibin::write("Hello, " + name.value_or("world") + "!\n");
}
