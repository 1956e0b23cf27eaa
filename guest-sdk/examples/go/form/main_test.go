package main

import (
	"strings"
	"testing"

	"example.invalid/wasibin"
)

func post(contentType, body string) *wasibin.Response {
	req := wasibin.NewTestRequest("POST", "/form").Header("Content-Type", contentType).Body(body).Build()
	return wasibin.Dispatch(req, handle)
}

func TestGreetsEscapedAndSetsCookie(t *testing.T) {
	resp := post("application/x-www-form-urlencoded", "firstname=%3Cb%3EAda")
	if page := string(resp.Body()); !strings.Contains(page, "<h1>Hello, &lt;b&gt;Ada!</h1>") {
		t.Error(page)
	}
	if c, _ := resp.Header("Set-Cookie"); c != "firstname=%3Cb%3EAda; Path=/" {
		t.Error(c)
	}
}

func TestMultipartUpload(t *testing.T) {
	body := "--b\r\nContent-Disposition: form-data; name=\"firstname\"\r\n\r\nAda\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"n.txt\"\r\n\r\n12345\r\n--b--\r\n"
	resp := post("multipart/form-data; boundary=b", body)
	if page := string(resp.Body()); !strings.Contains(page, "<p>Received n.txt: 5 bytes</p>") {
		t.Error(page)
	}
}

func TestNoNameRedirectsAndPutIsRefused(t *testing.T) {
	resp := post("application/x-www-form-urlencoded", "firstname=")
	if loc, _ := resp.Header("Location"); resp.Status() != 303 || loc != "/form" {
		t.Error(resp.Status(), loc)
	}
	resp = wasibin.Dispatch(wasibin.NewTestRequest("PUT", "/form").Build(), handle)
	if allow, _ := resp.Header("Allow"); resp.Status() != 405 || allow != "GET, POST" {
		t.Error(resp.Status(), allow)
	}
	if resp := post("application/json", "{}"); resp.Status() != 415 {
		t.Error(resp.Status())
	}
}

func TestWelcomesBack(t *testing.T) {
	req := wasibin.NewTestRequest("GET", "/form").Header("Cookie", "firstname=Ada%20L").Build()
	if page := string(wasibin.Dispatch(req, handle).Body()); !strings.Contains(page, "<p>Welcome back, Ada L!</p>") {
		t.Error(page)
	}
}
