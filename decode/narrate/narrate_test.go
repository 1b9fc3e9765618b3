package narrate

import (
	"slices"
	"testing"
)

// TestCataloguesMatch: every phrase exists in both languages, with the same
// placeholders, so that no narration falls back or loses a number.
func TestCataloguesMatch(t *testing.T) {
	if !slices.Equal(Keys(English), Keys(Chinese)) {
		for _, k := range Keys(English) {
			if !Has(Chinese, k) {
				t.Errorf("zh lacks %q", k)
			}
		}
		for _, k := range Keys(Chinese) {
			if !Has(English, k) {
				t.Errorf("en lacks %q", k)
			}
		}
	}
	for _, k := range Keys(English) {
		e, _ := Template(English, k)
		z, ok := Template(Chinese, k)
		if ok && !slices.Equal(Placeholders(e), Placeholders(z)) {
			t.Errorf("%q: en uses %v, zh %v", k, Placeholders(e), Placeholders(z))
		}
	}
}

func TestSayFillsInTheArithmetic(t *testing.T) {
	got := Say(English, "ack.data", Args{"ack": 17, "pseq": 1, "plen": 16})
	if want := "ACK 17 = the peer's seq 1 + 16 bytes received."; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
	got = Say(Chinese, "ack.data", Args{"ack": 17, "pseq": 1, "plen": 16})
	if want := "ACK 17 = 对方的 seq 1 + 收到的 16 字节。"; got != want {
		t.Errorf("zh: %q, want %q", got, want)
	}
	// A name opening an English sentence is capitalised; Chinese names
	// need no spaces around them.
	if got := Say(English, "state.TIME_WAIT", Args{"ep": Role(English, "client")}); got[:10] != "The client" {
		t.Errorf("en: %q", got)
	}
	if got := Say(Chinese, "summary.reset", Args{"id": 1, "who": Role(Chinese, "server"), "client": Role(Chinese, "client"), "server": Role(Chinese, "server"), "cb": 5, "sb": 0}); got != "连接 1：被服务器重置，此前客户端发送了 5 字节，服务器发送了 0 字节。" {
		t.Errorf("zh: %q", got)
	}
	if got := Say(English, "no.such.phrase", nil); got != "[no.such.phrase]" {
		t.Errorf("a missing phrase shows as %q", got)
	}
}

func TestLanguageFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		all, msgs, lang string
		want            Lang
	}{
		{"", "", "", English},
		{"", "", "zh_CN.UTF-8", Chinese},
		{"", "", "zh_TW.UTF-8", Chinese},
		{"en_US.UTF-8", "", "zh_CN.UTF-8", English}, // LC_ALL wins
		{"", "zh_CN.UTF-8", "en_US.UTF-8", Chinese}, // then LC_MESSAGES
		{"", "", "de_DE.UTF-8", English},            // no catalogue: English
		{"C", "", "zh_CN.UTF-8", English},
	} {
		if got := FromEnv(tc.all, tc.msgs, tc.lang); got != tc.want {
			t.Errorf("LC_ALL=%q LC_MESSAGES=%q LANG=%q: %s, want %s", tc.all, tc.msgs, tc.lang, got, tc.want)
		}
	}
}
