// Package filter selects decoded packets with a readable subset of
// pcap-filter syntax: host, net, port and portrange (each optionally
// qualified by src or dst), the protocols tcp, udp, icmp, icmp6, ip and ip6,
// sockscope's own "conn N", combined with and/or/not and parentheses.
//
// It is pure: it parses a string and matches trace.Packet values.
package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/sockscope/sockscope/trace"
)

// Filter is a compiled filter expression.
type Filter struct {
	src  string
	root node
}

// String returns the expression the filter was compiled from.
func (f *Filter) String() string { return f.src }

// Match reports whether the packet passes the filter. A nil filter passes
// everything.
func (f *Filter) Match(p *trace.Packet) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(p)
}

// Compile parses an expression. An empty expression matches everything.
func Compile(expr string) (*Filter, error) {
	ps := &parser{toks: tokenize(expr)}
	f := &Filter{src: expr}
	if len(ps.toks) == 0 {
		return f, nil
	}
	n, err := ps.or()
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	if t, ok := ps.peek(); ok {
		return nil, fmt.Errorf("filter %q: unexpected %q at position %d: want and, or, or the end", expr, t.text, t.pos+1)
	}
	f.root = n
	return f, nil
}

type node interface{ match(p *trace.Packet) bool }

type andNode struct{ a, b node }
type orNode struct{ a, b node }
type notNode struct{ a node }

func (n andNode) match(p *trace.Packet) bool { return n.a.match(p) && n.b.match(p) }
func (n orNode) match(p *trace.Packet) bool  { return n.a.match(p) || n.b.match(p) }
func (n notNode) match(p *trace.Packet) bool { return !n.a.match(p) }

// direction says which end a primitive looks at.
type direction int

const (
	either direction = iota
	srcOnly
	dstOnly
)

func (d direction) test(p *trace.Packet, f func(trace.Endpoint) bool) bool {
	switch d {
	case srcOnly:
		return f(p.Src)
	case dstOnly:
		return f(p.Dst)
	}
	return f(p.Src) || f(p.Dst)
}

type hostNode struct {
	dir  direction
	addr netip.Addr
}

func (n hostNode) match(p *trace.Packet) bool {
	return n.dir.test(p, func(e trace.Endpoint) bool { return e.Addr().Unmap() == n.addr })
}

type netNode struct {
	dir    direction
	prefix netip.Prefix
}

func (n netNode) match(p *trace.Packet) bool {
	return n.dir.test(p, func(e trace.Endpoint) bool { return n.prefix.Contains(e.Addr().Unmap()) })
}

type portNode struct {
	dir    direction
	lo, hi uint16
}

func (n portNode) match(p *trace.Packet) bool {
	if !trace.HasPorts(p.Proto) {
		return false
	}
	return n.dir.test(p, func(e trace.Endpoint) bool { return e.Port() >= n.lo && e.Port() <= n.hi })
}

type protoNode struct{ proto string }

func (n protoNode) match(p *trace.Packet) bool {
	switch n.proto {
	case "ip":
		return p.Src.Addr().Unmap().Is4()
	case "ip6":
		return p.Src.Addr().Is6() && !p.Src.Addr().Is4In6()
	}
	return p.Proto == n.proto
}

type connNode struct{ id int }

func (n connNode) match(p *trace.Packet) bool { return p.Conn == n.id }

type token struct {
	text string
	pos  int
}

// tokenize splits on spaces and parentheses; "&&", "||" and "!" are
// spelled-out operators too.
func tokenize(s string) []token {
	var toks []token
	start := -1
	flush := func(i int) {
		if start >= 0 {
			toks = append(toks, token{s[start:i], start})
			start = -1
		}
	}
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			flush(i)
		case r == '(' || r == ')':
			flush(i)
			toks = append(toks, token{string(r), i})
		case r == '!' && start < 0:
			toks = append(toks, token{"!", i})
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(s))
	return toks
}

type parser struct {
	toks []token
	i    int
}

func (ps *parser) peek() (token, bool) {
	if ps.i >= len(ps.toks) {
		return token{}, false
	}
	return ps.toks[ps.i], true
}

func (ps *parser) next() (token, bool) {
	t, ok := ps.peek()
	if ok {
		ps.i++
	}
	return t, ok
}

func (ps *parser) accept(words ...string) bool {
	t, ok := ps.peek()
	if !ok {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			ps.i++
			return true
		}
	}
	return false
}

func (ps *parser) or() (node, error) {
	n, err := ps.and()
	for err == nil && ps.accept("or", "||") {
		var b node
		if b, err = ps.and(); err == nil {
			n = orNode{n, b}
		}
	}
	return n, err
}

func (ps *parser) and() (node, error) {
	n, err := ps.not()
	for err == nil && ps.accept("and", "&&") {
		var b node
		if b, err = ps.not(); err == nil {
			n = andNode{n, b}
		}
	}
	return n, err
}

func (ps *parser) not() (node, error) {
	if ps.accept("not", "!") {
		n, err := ps.not()
		return notNode{n}, err
	}
	return ps.primary()
}

const want = "want host, net, port, portrange, tcp, udp, icmp, icmp6, ip, ip6, conn, not or ("

func (ps *parser) primary() (node, error) {
	t, ok := ps.next()
	if !ok {
		return nil, fmt.Errorf("the expression ends too early: %s", want)
	}
	word := strings.ToLower(t.text)
	switch word {
	case "(":
		n, err := ps.or()
		if err != nil {
			return nil, err
		}
		if !ps.accept(")") {
			return nil, fmt.Errorf("missing ) for the ( at position %d", t.pos+1)
		}
		return n, nil
	case "tcp", "udp", "icmp", "icmp6", "ip", "ip6":
		proto := protoNode{word}
		// "tcp port 80" is "tcp and port 80", as in pcap-filter.
		if nt, ok := ps.peek(); ok && isPrimitive(nt.text) {
			rest, err := ps.primary()
			if err != nil {
				return nil, err
			}
			return andNode{proto, rest}, nil
		}
		return proto, nil
	case "conn":
		v, err := ps.value(t, "a connection number")
		if err != nil {
			return nil, err
		}
		id, err := strconv.Atoi(v.text)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("conn wants a connection number (1, 2, …), not %q at position %d", v.text, v.pos+1)
		}
		return connNode{id}, nil
	case "src", "dst":
		dir := srcOnly
		if word == "dst" {
			dir = dstOnly
		}
		nt, ok := ps.peek()
		if !ok || !isAddressPrimitive(nt.text) {
			return nil, fmt.Errorf("%s at position %d wants host, net, port or portrange after it", word, t.pos+1)
		}
		ps.i++
		return ps.addressPrimitive(strings.ToLower(nt.text), nt, dir)
	case "host", "net", "port", "portrange":
		return ps.addressPrimitive(word, t, either)
	}
	return nil, fmt.Errorf("unexpected %q at position %d: %s", t.text, t.pos+1, want)
}

func isAddressPrimitive(s string) bool {
	switch strings.ToLower(s) {
	case "host", "net", "port", "portrange":
		return true
	}
	return false
}

func isPrimitive(s string) bool {
	return isAddressPrimitive(s) || strings.EqualFold(s, "src") || strings.EqualFold(s, "dst")
}

func (ps *parser) value(kw token, what string) (token, error) {
	v, ok := ps.next()
	if !ok || v.text == "(" || v.text == ")" {
		return token{}, fmt.Errorf("%s at position %d wants %s after it", kw.text, kw.pos+1, what)
	}
	return v, nil
}

func (ps *parser) addressPrimitive(word string, kw token, dir direction) (node, error) {
	switch word {
	case "host":
		v, err := ps.value(kw, "an IP address")
		if err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(v.text)
		if err != nil {
			return nil, fmt.Errorf("host wants an IP address, not %q at position %d", v.text, v.pos+1)
		}
		return hostNode{dir, a.Unmap()}, nil
	case "net":
		v, err := ps.value(kw, "a network like 10.0.0.0/8")
		if err != nil {
			return nil, err
		}
		pfx, err := netip.ParsePrefix(v.text)
		if err != nil {
			return nil, fmt.Errorf("net wants a network like 10.0.0.0/8, not %q at position %d", v.text, v.pos+1)
		}
		return netNode{dir, pfx.Masked()}, nil
	case "port":
		v, err := ps.value(kw, "a port number")
		if err != nil {
			return nil, err
		}
		p, err := parsePort(v)
		if err != nil {
			return nil, err
		}
		return portNode{dir, p, p}, nil
	default: // portrange
		v, err := ps.value(kw, "a range like 8000-8080")
		if err != nil {
			return nil, err
		}
		a, b, ok := strings.Cut(v.text, "-")
		if !ok {
			return nil, fmt.Errorf("portrange wants a range like 8000-8080, not %q at position %d", v.text, v.pos+1)
		}
		lo, err := parsePort(token{a, v.pos})
		if err != nil {
			return nil, err
		}
		hi, err := parsePort(token{b, v.pos + len(a) + 1})
		if err != nil {
			return nil, err
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		return portNode{dir, lo, hi}, nil
	}
}

func parsePort(t token) (uint16, error) {
	n, err := strconv.ParseUint(t.text, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("a port is a number from 0 to 65535, not %q at position %d", t.text, t.pos+1)
	}
	return uint16(n), nil
}
