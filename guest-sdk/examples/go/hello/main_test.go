package main

import (
	"testing"

	"example.invalid/wasibin"
)

func TestQueryThenCookieThenWorld(t *testing.T) {
	body := func(req *wasibin.Request) string { return string(wasibin.Dispatch(req, handle).Body()) }
	for want, req := range map[string]*wasibin.Request{
		"Hello, Ada L!\n": wasibin.NewTestRequest("GET", "/hello?x&name=Ada%20L").Build(),
		"Hello, Bob!\n":   wasibin.NewTestRequest("GET", "/hello").Header("Cookie", "theme=dark; name=Bob").Build(),
		"Hello, world!\n": wasibin.NewTestRequest("GET", "/hello").Build(),
	} {
		if got := body(req); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
