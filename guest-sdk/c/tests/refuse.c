/* Native test program for wasibin.h's output side (run by guest-sdk/tests/sdk_c.rs):
 * every call that would corrupt the header block must return -1 and write nothing.
 * The hostile value comes from the environment, as a handler's input would. */
#include "wasibin.h"

static int failures = 0;

static void expect_refused(int rc, const char *what) {
    if (rc != -1) {
        fprintf(stderr, "not refused: %s\n", what);
        failures++;
    }
}

int main(void) {
    const char *evil = wb_env("EVIL");
    expect_refused(wb_status(99), "status 99");
    expect_refused(wb_status(600), "status 600");
    expect_refused(wb_header("X-Evil", evil), "value from EVIL");
    expect_refused(wb_header("X-Nul", "a\tb\x7f"), "DEL in value");
    expect_refused(wb_header("Bad Name", "v"), "space in name");
    expect_refused(wb_header("", "v"), "empty name");
    expect_refused(wb_header("Status", "200 OK"), "Status as a header");
    expect_refused(wb_header("Location", "/a b"), "space in Location");
    expect_refused(wb_set_cookie("a", evil, NULL), "cookie value from EVIL");
    expect_refused(wb_set_cookie("a", "b;c", NULL), "semicolon in cookie");
    expect_refused(wb_set_cookie("a b", "c", NULL), "space in cookie name");
    expect_refused(wb_redirect(200, "/x"), "redirect with 200");
    expect_refused(wb_redirect_local("//evil.example/"), "network-path local redirect");
    if (wb_status(201) != 0) failures++;
    if (wb_header("Content-Type", "text/plain") != 0) failures++;
    expect_refused(wb_header("Content-Type", "text/html"), "second Content-Type");
    if (wb_set_cookie("ok", "1", "Path=/") != 0) failures++;
    wb_puts("body\n");
    expect_refused(wb_header("X-Late", "v"), "header after the body");
    return failures == 0 ? 0 : 1;
}
