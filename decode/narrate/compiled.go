package narrate

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The phrases are parsed once, at start, into literal and placeholder
// segments; a placeholder's name becomes a small number (a Name), so that
// Vals finds its value by index instead of hashing a string. Say with Args
// and Text with Vals fill the same parsed phrases and write the same bytes.

// Name is a placeholder's number, from Placeholder.
type Name int32

// noName is what Placeholder gives a name no phrase uses: setting it does
// nothing.
const noName Name = -1

// seg is a piece of a parsed phrase: literal text, or a placeholder.
type seg struct {
	lit  string // the text, or the placeholder's name
	ph   bool   // a placeholder
	name Name
}

// phrase is a parsed template.
type phrase struct {
	segs []seg
	// capFirst: in English, a sentence that opens with a name (not {op})
	// starts with a capital letter.
	capFirst bool
}

var (
	nameOf   = map[string]Name{} // a placeholder's name → its number
	names    []string            // and back
	parsedEn = map[string]*phrase{}
	parsedZh = map[string]*phrase{}
)

func init() {
	for _, c := range []struct {
		cat map[string]string
		out map[string]*phrase
	}{{en, parsedEn}, {zh, parsedZh}} {
		keys := make([]string, 0, len(c.cat))
		for k := range c.cat {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same numbers on every run
		for _, k := range keys {
			c.out[k] = parse(c.cat[k])
		}
	}
}

// parse splits tmpl as fill reads it: each {name} a placeholder, and a
// '{' without its '}' literal to the end.
func parse(tmpl string) *phrase {
	p := &phrase{capFirst: len(tmpl) > 0 && tmpl[0] == '{' && !(len(tmpl) >= 4 && tmpl[:4] == "{op}")}
	for {
		i := indexByte(tmpl, '{')
		if i < 0 {
			break
		}
		j := indexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		if i > 0 {
			p.segs = append(p.segs, seg{lit: tmpl[:i]})
		}
		name := tmpl[i+1 : i+j]
		id, ok := nameOf[name]
		if !ok {
			id = Name(len(names))
			nameOf[name] = id
			names = append(names, name)
		}
		p.segs = append(p.segs, seg{lit: name, ph: true, name: id})
		tmpl = tmpl[i+j+1:]
	}
	if tmpl != "" {
		p.segs = append(p.segs, seg{lit: tmpl})
	}
	return p
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// Placeholder numbers a placeholder's name for Vals; a name no phrase uses
// gets a number whose value is never read.
func Placeholder(name string) Name {
	if id, ok := nameOf[name]; ok {
		return id
	}
	return noName
}

// lookup finds the parsed phrase key of l, English when l lacks it, nil
// when neither has it.
func lookup(l Lang, key string) *phrase {
	if l == Chinese {
		if p, ok := parsedZh[key]; ok {
			return p
		}
	}
	return parsedEn[key]
}

// val is one placeholder's value.
type val struct {
	gen  uint32 // set when equal to Vals.gen
	kind uint8
	n    int64
	s    string
	ap   netip.AddrPort
}

// The kinds of val.
const (
	kindStr uint8 = iota
	kindInt
	kindAddr
)

// Vals are a phrase's placeholder values, by Name: a cheaper Args, meant
// to be reused (Reset) from sentence to sentence. The zero value is ready.
type Vals struct {
	gen uint32
	v   []val
}

// Reset forgets every value.
func (v *Vals) Reset() {
	v.gen++
	if v.gen == 0 { // wrapped: old stamps could match again
		clear(v.v)
		v.gen = 1
	}
}

func (v *Vals) slot(id Name) *val {
	if id < 0 {
		return nil
	}
	if v.v == nil {
		v.v = make([]val, len(names))
		if v.gen == 0 {
			v.gen = 1
		}
	}
	return &v.v[id]
}

// Str sets placeholder id to s.
func (v *Vals) Str(id Name, s string) {
	if x := v.slot(id); x != nil {
		*x = val{gen: v.gen, s: s}
	}
}

// Int sets placeholder id to n, written in decimal.
func (v *Vals) Int(id Name, n int64) {
	if x := v.slot(id); x != nil {
		*x = val{gen: v.gen, kind: kindInt, n: n}
	}
}

// Addr sets placeholder id to ap, written as ap.String() writes it.
func (v *Vals) Addr(id Name, ap netip.AddrPort) {
	if x := v.slot(id); x != nil {
		*x = val{gen: v.gen, kind: kindAddr, ap: ap}
	}
}

// Del unsets placeholder id: a phrase shows it as {name}.
func (v *Vals) Del(id Name) {
	if x := v.slot(id); x != nil {
		x.gen = v.gen - 1
	}
}

// Text is a narration being written: sentences filled in one after the
// other into one reused buffer, joined as Join joins them.
type Text struct {
	l Lang
	b []byte
}

// Reset starts a new narration in l.
func (t *Text) Reset(l Lang) {
	t.l, t.b = l, t.b[:0]
}

// String is the narration so far.
func (t *Text) String() string { return string(t.b) }

// sep starts a sentence: the language's spacing after an earlier one.
func (t *Text) sep() int {
	start := len(t.b)
	if start > 0 && t.l != Chinese {
		t.b = append(t.b, ' ')
	}
	return start
}

// end finishes the sentence begun at mark (after the spacing begun at
// start); an empty sentence leaves nothing, as Join drops it.
func (t *Text) end(start, mark int) {
	if len(t.b) == mark {
		t.b = t.b[:start]
	}
}

// Add appends a finished sentence.
func (t *Text) Add(s string) {
	if s == "" {
		return
	}
	t.sep()
	t.b = append(t.b, s...)
}

// Phrase is a phrase's key looked up once, for Text.SayPhrase.
type Phrase struct {
	key    string
	en, zh *phrase // nil when neither catalogue has it
}

// Key looks up the phrase key in both languages.
func Key(key string) *Phrase {
	return &Phrase{key: key, en: lookup(English, key), zh: lookup(Chinese, key)}
}

// Say appends the phrase key filled in with v, as Say would write it.
func (t *Text) Say(key string, v *Vals) {
	t.say(lookup(t.l, key), key, v)
}

// SayPhrase appends the phrase k filled in with v, as Say would write it.
func (t *Text) SayPhrase(k *Phrase, v *Vals) {
	p := k.en
	if t.l == Chinese {
		p = k.zh
	}
	t.say(p, k.key, v)
}

func (t *Text) say(p *phrase, key string, v *Vals) {
	start := t.sep()
	mark := len(t.b)
	if p == nil {
		t.b = append(append(append(t.b, '['), key...), ']')
		return
	}
	for i := range p.segs {
		s := &p.segs[i]
		if !s.ph {
			t.b = append(t.b, s.lit...)
			continue
		}
		if v != nil && s.name < Name(len(v.v)) {
			if x := &v.v[s.name]; x.gen == v.gen && v.gen != 0 {
				switch {
				case x.kind == kindInt:
					t.b = strconv.AppendInt(t.b, x.n, 10)
				case x.kind == kindAddr && x.ap.IsValid():
					t.b = x.ap.AppendTo(t.b)
				case x.kind == kindAddr:
					t.b = append(t.b, x.ap.String()...)
				default:
					t.b = append(t.b, x.s...)
				}
				continue
			}
		}
		t.b = append(append(append(t.b, '{'), s.lit...), '}')
	}
	t.b = finish(t.b, mark, p, t.l)
	t.end(start, mark)
}

// appendArgs appends phrase p filled in with args.
func appendArgs(b []byte, p *phrase, args Args) []byte {
	for i := range p.segs {
		s := &p.segs[i]
		if !s.ph {
			b = append(b, s.lit...)
			continue
		}
		v, ok := args[s.lit]
		if !ok {
			b = append(append(append(b, '{'), s.lit...), '}')
			continue
		}
		switch x := v.(type) {
		case string:
			b = append(b, x...)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case uint32:
			b = strconv.AppendUint(b, uint64(x), 10)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case uint64:
			b = strconv.AppendUint(b, x, 10)
		default:
			b = fmt.Append(b, v)
		}
	}
	return b
}

// finish applies the language's touches to the sentence b[mark:]: Chinese
// drops a space between two Han characters, English capitalises a name
// that opens the sentence.
func finish(b []byte, mark int, p *phrase, l Lang) []byte {
	if l == Chinese {
		return tightenHanBytes(b, mark)
	}
	if p.capFirst && len(b) > mark && b[mark] >= 'a' && b[mark] <= 'z' {
		b[mark] -= 'a' - 'A'
	}
	return b
}

// tightenHanBytes does tightenHan to b[mark:] in place.
func tightenHanBytes(b []byte, mark int) []byte {
	s := b[mark:]
	if !utf8.Valid(s) { // tightenHan also turns bad bytes into U+FFFD
		t := tightenHan(string(s))
		return append(b[:mark], t...)
	}
	hasSpace := false
	for _, c := range s {
		if c == ' ' {
			hasSpace = true
			break
		}
	}
	if !hasSpace {
		return b
	}
	w := 0
	prev := rune(-1) // the rune before the current one, none at the start
	for r := 0; r < len(s); {
		c, size := utf8.DecodeRune(s[r:])
		if c == ' ' && prev >= 0 && r+1 < len(s) && unicode.Is(unicode.Han, prev) {
			if next, _ := utf8.DecodeRune(s[r+1:]); unicode.Is(unicode.Han, next) {
				prev = c
				r += size
				continue
			}
		}
		copy(s[w:], s[r:r+size])
		w += size
		r += size
		prev = c
	}
	return b[:mark+w]
}
