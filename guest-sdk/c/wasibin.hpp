/*
 * wasibin.hpp: write wasibin handlers in C++17. A thin, header-only layer
 * over wasibin.h (which C++ can also include directly): the same calls in
 * namespace wasibin, with std::string results instead of malloc'd strings to
 * free(), std::string_view arguments, the request body and the multipart
 * parts as RAII objects and ranges, and header writers that also refuse an
 * embedded NUL (a std::string may hold one; wasibin.h would see the string
 * cut short there).
 *
 *     #include "wasibin.hpp"
 *     int main() {
 *         auto name = wasibin::query("name");
 *         wasibin::header("Content-Type", "text/plain; charset=utf-8");
 *         wasibin::write("Hello, " + name.value_or("world") + "!\n");
 *     }
 *
 * Build: clang++-19 --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -s
 *            -I guest-sdk/c -o hello.wasm hello.cpp
 *
 * Nothing here throws (WASI has no C++ exceptions: build with
 * -fno-exceptions); running out of memory aborts, which the host answers 502.
 */
#ifndef WASIBIN_HPP
#define WASIBIN_HPP

#include "wasibin.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace wasibin {

namespace detail {

/* Takes ownership of a malloc'd string from wasibin.h. */
inline std::optional<std::string> take(char *s) {
    if (!s) return std::nullopt;
    std::string out(s);
    std::free(s);
    return out;
}

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

inline bool refuse_nul(std::string_view name) {
    std::fprintf(stderr, "wasibin.hpp: refused header %.*s: NUL in the name or value\n",
                 static_cast<int>(name.size()), name.data());
    return false;
}

}  // namespace detail

/* ---------------------------------------------------------------------- */
/* The request                                                            */
/* ---------------------------------------------------------------------- */

/* A CGI variable, "" when absent; the view lives as long as the process. */
inline std::string_view env(const char *name) { return wb_env(name); }
inline std::string_view method() { return wb_method(); }
inline std::string_view script_name() { return wb_script_name(); }
inline std::string_view path_info() { return wb_path_info(); }
inline std::string_view query_string() { return wb_query_string(); }
inline std::string_view content_type() { return wb_content_type(); }

/* Request header `name` ("User-Agent"); nullopt when absent. */
inline std::optional<std::string_view> request_header(const char *name) {
    const char *v = wb_request_header(name);
    if (!v) return std::nullopt;
    return std::string_view(v);
}

/* Query parameter `name`, decoded; nullopt when absent. */
inline std::optional<std::string> query(const char *name) { return detail::take(wb_query(name)); }

/* Cookie `name` as sent (not decoded: url_decode() undoes url_encode()). */
inline std::optional<std::string> cookie(const char *name) { return detail::take(wb_cookie(name)); }

/* The request body as wb_body() reads it (exactly CONTENT_LENGTH bytes of
 * stdin, or stdin to end of file without one), read once by Body::read(),
 * freed with the object. Parts and fields point into it. */
class Body {
  public:
    /* nullopt for an invalid CONTENT_LENGTH, a body over WB_MAX_BODY, a
     * truncated body, a failed read or no memory: answer 400. */
    static std::optional<Body> read() {
        std::size_t len = 0;
        char *data = wb_body(&len);
        if (!data) return std::nullopt;
        return Body(data, len);
    }

    Body(Body &&other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(other.size_) {}
    Body &operator=(Body &&other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        return *this;
    }
    Body(const Body &) = delete;
    Body &operator=(const Body &) = delete;
    ~Body() { std::free(data_); }

    const char *data() const { return data_; }
    std::size_t size() const { return size_; }
    std::string_view view() const { return std::string_view(data_, size_); }

  private:
    Body(char *data, std::size_t size) : data_(data), size_(size) {}
    char *data_;
    std::size_t size_;
};

/* Text field `name` of an urlencoded or multipart form body, decoded;
 * nullopt when absent or when the body is not a form. */
inline std::optional<std::string> form(const Body &body, const char *name) {
    return detail::take(wb_form(body.data(), body.size(), name));
}

/* The parts of a multipart/form-data body, as a range:
 *
 *     wasibin::Multipart parts(body);
 *     for (const wb_part &part : parts) { ... }
 *     if (parts.malformed()) ...   // after the loop: answer 400
 *
 * valid() is false when the body is not multipart with a usable boundary.
 * One pass: the range reads the parts as it goes. */
class Multipart {
  public:
    explicit Multipart(const Body &body) {
        valid_ = wb_multipart_init(&state_, wb_content_type(), body.data(), body.size()) == 0;
    }

    bool valid() const { return valid_; }
    bool malformed() const { return malformed_; }

    class iterator {
      public:
        const wb_part &operator*() const { return part_; }
        const wb_part *operator->() const { return &part_; }
        iterator &operator++() {
            advance();
            return *this;
        }
        bool operator!=(const iterator &other) const { return owner_ != other.owner_; }
        bool operator==(const iterator &other) const { return owner_ == other.owner_; }

      private:
        friend class Multipart;
        explicit iterator(Multipart *owner) : owner_(owner), part_() {
            if (owner_) advance();
        }
        void advance() {
            int rc = wb_multipart_next(&owner_->state_, &part_);
            if (rc != 1) {
                if (rc < 0) owner_->malformed_ = true;
                owner_ = nullptr;
            }
        }
        Multipart *owner_;
        wb_part part_;
    };

    iterator begin() { return iterator(valid_ && !malformed_ ? this : nullptr); }
    iterator end() { return iterator(nullptr); }

  private:
    wb_multipart state_;
    bool valid_ = false;
    bool malformed_ = false;
};

/* A part's data as a view into the body. */
inline std::string_view data(const wb_part &part) { return std::string_view(part.data, part.data_len); }

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */
/* ---------------------------------------------------------------------- */

/* '+' is a space, %XX a byte, a '%' without two hex digits stays literal. */
inline std::string url_decode(std::string_view s) {
    return detail::take(wb_url_decode(s.data(), s.size())).value_or(std::string());
}

/* Percent-encodes all but RFC 3986's unreserved characters: safe in a URL,
 * a form and a cookie value. */
inline std::string url_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/* Escapes & < > " ' so that text from the request is inert in HTML. */
inline std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

/* ---------------------------------------------------------------------- */
/* The response: wasibin.h's writers, true when written                   */
/* ---------------------------------------------------------------------- */

/* Starts the response with `status` (200..=599); first, once. */
inline bool status(int code) { return wb_status(code) == 0; }

/* Adds `name: value`; refused (false, nothing written) for a name that is
 * not a token or is Status, a value with CR, LF, NUL or another control
 * character, a second Content-Type, or after the body has started. */
inline bool header(const std::string &name, const std::string &value) {
    if (detail::has_nul(name) || detail::has_nul(value)) return detail::refuse_nul(name);
    return wb_header(name.c_str(), value.c_str()) == 0;
}

/* Adds Set-Cookie: name=value; attributes. The value must be cookie-safe:
 * pass it through url_encode() first. */
inline bool set_cookie(const std::string &name, const std::string &value, const std::string &attributes = "") {
    if (detail::has_nul(name) || detail::has_nul(value) || detail::has_nul(attributes))
        return detail::refuse_nul("Set-Cookie");
    return wb_set_cookie(name.c_str(), value.c_str(), attributes.empty() ? nullptr : attributes.c_str()) == 0;
}

/* Body output; the first call ends the header block. */
inline void write(std::string_view s) { wb_write(s.data(), s.size()); }
inline void write_html(std::string_view s) { write(html_escape(s)); }

/* A complete plain-text response with an error status. */
inline void error(int code, const std::string &message) {
    if (detail::has_nul(message)) {
        wb_error(code, "Error");
    } else {
        wb_error(code, message.c_str());
    }
}

/* A complete client redirect (301, 302, 303, 307, 308). */
inline bool redirect(int code, const std::string &url) {
    return !detail::has_nul(url) && wb_redirect(code, url.c_str()) == 0;
}

/* Asks the host to serve `path` instead, as a GET (a local redirect). */
inline bool redirect_local(const std::string &path) {
    return !detail::has_nul(path) && wb_redirect_local(path.c_str()) == 0;
}

}  // namespace wasibin

#endif /* WASIBIN_HPP */
