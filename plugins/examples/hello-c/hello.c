/*
 * The smallest wasibin plugin in C: a CGI response on stdout.
 *
 * Build: clang-19 --target=wasm32-wasi -O2 -o plugins/hello-c.wasm hello.c
 * (Debian: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32).
 * host/build.rs does this for you when clang-19 is installed.
 */
#include <stdio.h>

int main(void) {
    fputs("Content-Type: text/plain\r\n\r\nHello, world!\n", stdout);
    return 0;
}
