// form: the tutorials' POST form. GET shows the form (and greets a returning
// visitor by cookie); POST, urlencoded or multipart, greets `firstname`, lists
// an uploaded file and remembers the name in a cookie. No name sends the
// browser back to the form (303); other methods get 405.
// Build: clang++-19 --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -s -I guest-sdk/c -o form.wasm form.cpp
#include <cstring>
#include <string>

#include "wasibin.hpp"

static void form_page() {
    std::string page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Form</title></head><body>\n";
    if (auto cookie = wasibin::cookie("firstname")) {
        page += "<p>Welcome back, " + wasibin::html_escape(wasibin::url_decode(*cookie)) + "!</p>\n";
    }
    page += "<form method=\"post\" action=\"" + wasibin::html_escape(wasibin::script_name()) +
            "\" enctype=\"multipart/form-data\">\n"
            "<label>First name: <input name=\"firstname\"></label>\n"
            "<input type=\"file\" name=\"upload\">\n"
            "<input type=\"submit\" value=\"Submit\">\n"
            "</form>\n</body></html>\n";
    wasibin::header("Content-Type", "text/html; charset=utf-8");
    wasibin::write(page);
}

static void greet() {
    auto body = wasibin::Body::read();
    if (!body) {
        wasibin::error(400, "Bad Request");
        return;
    }
    auto name = wasibin::form(*body, "firstname");
    if (!name || name->empty()) {
        wasibin::redirect(303, std::string(wasibin::script_name()));
        return;
    }
    std::string page =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body>\n"
        "<h1>Hello, " + wasibin::html_escape(*name) + "!</h1>\n";
    wasibin::Multipart parts(*body);
    for (const wb_part &part : parts) {
        if (part.is_file && std::strcmp(part.name, "upload") == 0) {
            if (part.filename[0]) {
                page += "<p>Received " + wasibin::html_escape(part.filename) + ": " +
                        std::to_string(part.data_len) + " bytes</p>\n";
            }
            break;
        }
    }
    page += "<p><a href=\"" + wasibin::html_escape(wasibin::script_name()) +
            "\">Back to the form</a></p>\n</body></html>\n";
    wasibin::status(200);
    wasibin::header("Content-Type", "text/html; charset=utf-8");
    wasibin::set_cookie("firstname", wasibin::url_encode(*name), "Path=/");
    wasibin::write(page);
}

int main() {
    std::string_view method = wasibin::method();
    std::string_view path_info = wasibin::path_info();
    if (path_info == "/missing") {
        wasibin::error(404, "Not Found");
    } else if (path_info == "/again") {
        // A local redirect: the server answers with the form itself.
        wasibin::redirect_local(std::string(wasibin::script_name()));
    } else if (method == "GET" || method == "HEAD") {
        form_page();
    } else if (method == "POST") {
        greet();
    } else {
        wasibin::status(405);
        wasibin::header("Content-Type", "text/plain; charset=utf-8");
        wasibin::header("Allow", "GET, POST");
        wasibin::write("Method Not Allowed\n");
    }
}
