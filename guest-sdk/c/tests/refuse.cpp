// Native test program for wasibin.hpp (run by guest-sdk/tests/sdk_c.rs):
// wasibin.h compiles as C++, and the C++ layer refuses what would corrupt the
// header block, including a NUL inside a std::string, which the C calls
// would see as the end of the string.
#include "wasibin.hpp"

static int failures = 0;

static void expect_refused(bool written, const char *what) {
    if (written) {
        std::fprintf(stderr, "not refused: %s\n", what);
        failures++;
    }
}

static void expect(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "failed: %s\n", what);
        failures++;
    }
}

int main() {
    std::string evil(wasibin::env("EVIL"));
    expect_refused(wasibin::status(99), "status 99");
    expect_refused(wasibin::header("X-Evil", evil), "value from EVIL");
    expect_refused(wasibin::header("X-Nul", std::string("a\0b", 3)), "NUL inside a std::string value");
    expect_refused(wasibin::header(std::string("X\0Y", 3), "v"), "NUL inside a std::string name");
    expect_refused(wasibin::header("Bad Name", "v"), "space in name");
    expect_refused(wasibin::set_cookie("a", evil), "cookie value from EVIL");
    expect_refused(wasibin::set_cookie("a", std::string("1\0; Domain=evil", 15)), "NUL in cookie value");
    expect_refused(wasibin::redirect(302, std::string("/a\0b", 4)), "NUL in redirect");
    expect(wasibin::url_encode("<script>Ada L") == "%3Cscript%3EAda%20L", "url_encode");
    expect(wasibin::url_decode("Ada+L%21%") == "Ada L!%", "url_decode");
    expect(wasibin::html_escape("<a href='x'>&\"") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;", "html_escape");
    expect(!wasibin::query("missing").has_value(), "absent query parameter");
    expect(wasibin::status(201), "status 201");
    expect(wasibin::header("Content-Type", "text/plain"), "Content-Type");
    expect(wasibin::set_cookie("ok", "1", "Path=/"), "cookie");
    wasibin::write(std::string_view("body\n"));
    expect_refused(wasibin::header("X-Late", "v"), "header after the body");
    return failures == 0 ? 0 : 1;
}
