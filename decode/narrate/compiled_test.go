package narrate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// sayRef is Say as it was before phrases were parsed once: each {name}
// looked up in args as the template is read, the sentence touched after.
func sayRef(l Lang, key string, args Args) string {
	tmpl, ok := catalogue(l)[key]
	if !ok {
		if tmpl, ok = en[key]; !ok {
			return "[" + key + "]"
		}
	}
	var sb strings.Builder
	t := tmpl
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			sb.WriteString(t)
			break
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			sb.WriteString(t)
			break
		}
		sb.WriteString(t[:i])
		name := t[i+1 : i+j]
		if v, ok := args[name]; ok {
			fmt.Fprint(&sb, v)
		} else {
			sb.WriteString("{" + name + "}")
		}
		t = t[i+j+1:]
	}
	out := sb.String()
	if l == Chinese {
		out = tightenHan(out)
	}
	if l != Chinese && strings.HasPrefix(tmpl, "{") && !strings.HasPrefix(tmpl, "{op}") && out != "" && out[0] >= 'a' && out[0] <= 'z' {
		out = string(out[0]-'a'+'A') + out[1:]
	}
	return out
}

// TestTextSaysAsSay: every phrase of both languages, filled in through
// Vals and Text, through Args and Say, and as the template reads, gives
// the same bytes, with names in either language, numbers, empty values,
// unset placeholders and bytes that are not UTF-8.
func TestTextSaysAsSay(t *testing.T) {
	values := []func(name string, i int) any{
		func(name string, i int) any { return Role(English, "client") },
		func(name string, i int) any { return Role(Chinese, "server") },
		func(name string, i int) any { return i * 1000003 },
		func(name string, i int) any { return uint32(1<<32 - 1 - i) },
		func(name string, i int) any { return "" },
		func(name string, i int) any { return "a \xff b 客 户" },
		func(name string, i int) any { return "端 " + name },
	}
	for _, l := range []Lang{English, Chinese, "fr"} {
		for _, key := range append(Keys(English), "no.such.phrase") {
			tmpl, _ := Template(English, key)
			for vi, mk := range values {
				args := Args{}
				var v Vals
				v.Reset()
				for i, name := range Placeholders(tmpl) {
					if i%3 == 2 && vi%2 == 1 {
						continue // left unset: shows as {name}
					}
					x := mk(name, i)
					args[name] = x
					switch x := x.(type) {
					case string:
						v.Str(Placeholder(name), x)
					case int:
						v.Int(Placeholder(name), int64(x))
					case uint32:
						v.Int(Placeholder(name), int64(x))
					}
				}
				want := sayRef(l, key, args)
				if got := Say(l, key, args); got != want {
					t.Errorf("%s %s: Say %q, want %q", l, key, got, want)
				}
				var tx Text
				tx.Reset(l)
				tx.Say(key, &v)
				if got := tx.String(); got != want {
					t.Errorf("%s %s: Text %q, want %q", l, key, got, want)
				}
			}
		}
	}
}

// TestTextJoinsAsJoin: sentences said into one Text are joined as Join
// joins them, an empty one dropped, and Reset starts afresh.
func TestTextJoinsAsJoin(t *testing.T) {
	for _, l := range []Lang{English, Chinese} {
		var v Vals
		var tx Text
		for round := range 3 {
			v.Reset()
			v.Str(Placeholder("text"), "")
			tx.Reset(l)
			tx.Say("note.other", &v) // empty: dropped
			tx.Add("")
			v.Str(Placeholder("ep"), Role(l, "client"))
			tx.Say("state.CLOSED", &v)
			tx.Say("note.other", &v)
			tx.Add("done.")
			v.Del(Placeholder("ep"))
			tx.Say("state.LISTEN", &v)
			want := Join(l, "", Say(l, "state.CLOSED", Args{"ep": Role(l, "client")}), "", "done.", Say(l, "state.LISTEN", nil))
			if got := tx.String(); got != want {
				t.Errorf("%s round %d: %q, want %q", l, round, got, want)
			}
		}
	}
	if got, want := Join(English, "a", "", "b", "c"), "a b c"; got != want {
		t.Errorf("Join: %q, want %q", got, want)
	}
	if got := Join(Chinese, "", "甲。", "乙。"); got != "甲。乙。" {
		t.Errorf("Join zh: %q", got)
	}
}

// TestValsSurviveWrapping: a Vals reset 2³² times forgets what it held.
func TestValsSurviveWrapping(t *testing.T) {
	var v Vals
	v.Reset()
	v.Str(Placeholder("ep"), "x")
	v.gen = 1<<32 - 1
	v.v[Placeholder("ep")].gen = 1
	v.Reset()
	var tx Text
	tx.Reset(English)
	tx.Say("state.CLOSED", &v)
	if got := tx.String(); got != "{ep} is CLOSED." {
		t.Errorf("after wrapping: %q", got)
	}
}

// TestAddrWritesAsString: an address set with Vals.Addr reads as its
// String, the invalid one, IPv6 with a zone and IPv4 in IPv6 too.
func TestAddrWritesAsString(t *testing.T) {
	for _, ap := range []netip.AddrPort{
		{},
		netip.MustParseAddrPort("10.0.0.1:80"),
		netip.MustParseAddrPort("[fe80::1%eth0]:443"),
		netip.MustParseAddrPort("[::ffff:10.1.2.3]:9"),
		netip.MustParseAddrPort("[2001:db8::5]:65535"),
	} {
		var v Vals
		v.Reset()
		v.Addr(Placeholder("saddr"), ap)
		var tx Text
		tx.Reset(English)
		tx.Say("summary.refused", &v)
		want := Say(English, "summary.refused", Args{"saddr": ap.String()})
		if got := tx.String(); got != want {
			t.Errorf("%v: %q, want %q", ap, got, want)
		}
	}
}

// TestSayPhraseAsSay: a phrase looked up once says what its key says, in
// either language, and a key no catalogue has shows as [key].
func TestSayPhraseAsSay(t *testing.T) {
	for _, l := range []Lang{English, Chinese, "fr"} {
		for _, key := range append(Keys(English), "no.such.phrase") {
			var v Vals
			v.Reset()
			v.Str(Placeholder("src"), Role(l, "client"))
			v.Int(Placeholder("seq"), 42)
			var a, b Text
			a.Reset(l)
			b.Reset(l)
			a.Say(key, &v)
			b.SayPhrase(Key(key), &v)
			if a.String() != b.String() {
				t.Errorf("%s %s: %q, want %q", l, key, b.String(), a.String())
			}
		}
	}
}
