// Package narrate holds sockscope's phrasing: the sentences that explain
// each event of a timeline, in English (en.go) and Chinese (zh.go). Each
// language is one catalogue in one file, so that a teacher can review the
// wording without reading code; decode.Annotate chooses the sentences and
// fills in their numbers.
//
// A phrase is a template with named placeholders, {ack} or {ep}; Say fills
// them in. The package is pure: no I/O, no clock, no goroutines.
package narrate

import (
	"sort"
	"strings"
	"unicode"
)

// Lang is a language of the catalogue.
type Lang string

// The languages.
const (
	English Lang = "en"
	Chinese Lang = "zh"
)

// ParseLang turns "en", "zh", "zh_CN.UTF-8" … into a Lang; ok is false for
// a language that has no catalogue.
func ParseLang(s string) (Lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "en" || strings.HasPrefix(s, "en_") || strings.HasPrefix(s, "en-") || s == "c" || s == "posix":
		return English, true
	case s == "zh" || strings.HasPrefix(s, "zh_") || strings.HasPrefix(s, "zh-"):
		return Chinese, true
	}
	return English, false
}

// FromEnv chooses the language from the locale variables' values, in
// POSIX's order of precedence: LC_ALL, then LC_MESSAGES, then LANG. A
// Chinese locale (zh*) gives Chinese, anything else English.
func FromEnv(lcAll, lcMessages, lang string) Lang {
	for _, v := range []string{lcAll, lcMessages, lang} {
		if v == "" {
			continue
		}
		if l, ok := ParseLang(v); ok {
			return l
		}
		return English
	}
	return English
}

// Args are a phrase's placeholder values.
type Args map[string]any

func catalogue(l Lang) map[string]string {
	if l == Chinese {
		return zh
	}
	return en
}

// Has reports whether the catalogue of l has the phrase key.
func Has(l Lang, key string) bool {
	_, ok := catalogue(l)[key]
	return ok
}

// Say fills in the phrase key of language l with args. A phrase missing
// from l falls back to English; a key missing from both yields "[key]", so
// a gap shows rather than hides.
//
// An English sentence that opens with a name ("the client …") starts with
// a capital letter; one that opens with a call's name ("close()") keeps it
// as the program spells it. A Chinese one drops a space between two Han
// characters (a Chinese name filled in next to Chinese text needs none).
func Say(l Lang, key string, args Args) string {
	p := lookup(l, key)
	if p == nil {
		return "[" + key + "]"
	}
	if l != Chinese && len(p.segs) == 1 && !p.segs[0].ph {
		return p.segs[0].lit // nothing to fill in or to touch
	}
	var buf [256]byte
	b := appendArgs(buf[:0], p, args)
	return string(finish(b, 0, p, l))
}

// Placeholders lists the names a template uses, sorted.
func Placeholders(tmpl string) []string {
	var names []string
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		names = append(names, tmpl[i+1:i+j])
		tmpl = tmpl[i+j+1:]
	}
	sort.Strings(names)
	return names
}

// Keys lists the phrases of language l, sorted.
func Keys(l Lang) []string {
	var keys []string
	for k := range catalogue(l) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Template returns the raw phrase key of language l.
func Template(l Lang, key string) (string, bool) {
	t, ok := catalogue(l)[key]
	return t, ok
}

// Join puts sentences together with the language's spacing.
func Join(l Lang, sentences ...string) string {
	sep := " "
	if l == Chinese {
		sep = ""
	}
	n, size, only := 0, 0, ""
	for _, s := range sentences {
		if s != "" {
			n++
			size += len(s)
			only = s
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return only
	}
	b := make([]byte, 0, size+(n-1)*len(sep))
	for _, s := range sentences {
		if s == "" {
			continue
		}
		if len(b) > 0 {
			b = append(b, sep...)
		}
		b = append(b, s...)
	}
	return string(b)
}

// List joins items as "1, 2 and 3" in l.
func List(l Lang, items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	if l == Chinese {
		return strings.Join(items, "、")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// Role names a program's lane in l: "client" → "the client" (客户端),
// "client2" → "the client 2" (客户端 2); other names stay as they are.
func Role(l Lang, lane string) string {
	switch lane { // the usual ones without filling a template
	case "client":
		if l == Chinese {
			return zhClient
		}
		return enClient
	case "server":
		if l == Chinese {
			return zhServer
		}
		return enServer
	}
	for _, base := range []string{"client", "server"} {
		rest, ok := strings.CutPrefix(lane, base)
		if !ok || strings.Trim(rest, "0123456789") != "" {
			continue
		}
		name := Say(l, "role."+base, nil)
		if rest != "" {
			name += " " + rest
		}
		return name
	}
	return lane
}

// The usual roles, read once.
var (
	enClient, enServer = en["role.client"], en["role.server"]
	zhClient, zhServer = zh["role.client"], zh["role.server"]
)

// tightenHan drops a space between two Han characters (a Chinese name
// filled in next to Chinese text needs none).
func tightenHan(s string) string {
	r := []rune(s)
	out := r[:0:0]
	for i, c := range r {
		if c == ' ' && i > 0 && i+1 < len(r) && unicode.Is(unicode.Han, r[i-1]) && unicode.Is(unicode.Han, r[i+1]) {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
