/* Native test program for wb_body() (run by guest-sdk/tests/sdk_c.rs): the
 * body's length and its fields a and b, or a 400 when wb_body() refuses it.
 * A small WB_MAX_BODY, over the first 4 KiB buffer, lets the test cross the
 * limit with little input and makes the buffer grow on the way. */
#define WB_MAX_BODY 10000u
#include "wasibin.h"

int main(void) {
    size_t len = 0;
    char *body = wb_body(&len);
    char *a, *b;
    if (!body) {
        wb_error(400, "Bad Request");
        return 0;
    }
    a = wb_form(body, len, "a");
    b = wb_form(body, len, "b");
    wb_header("Content-Type", "text/plain");
    wb_printf("%lu bytes, a=%s b=%s, NUL-terminated: %s\n", (unsigned long)len, a ? a : "-",
              b ? b : "-", body[len] == '\0' ? "yes" : "no");
    free(a);
    free(b);
    free(body);
    return 0;
}
