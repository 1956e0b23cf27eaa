/* hello: greets ?name=, else the `name` cookie, else the world.
 * Build: clang-19 --target=wasm32-wasi -O2 -s -I guest-sdk/c -o hello.wasm hello.c */
#include "wasibin.h"

int main(void) {
    char *name = wb_query("name");
    if (!name) name = wb_cookie("name");
    wb_header("Content-Type", "text/plain; charset=utf-8");
    wb_printf("Hello, %s!\n", name ? name : "world");
    free(name);
    return 0;
}
