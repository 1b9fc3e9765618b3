package trace

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite trace/testdata golden files")

const encodeGolden = "testdata/encode.golden.jsonl"

// goldenBase is the base of the golden file's main encoder.
var goldenBase = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// goldenEvents is a wide set of events: every kind, every field set and
// unset, IPv4, IPv6 (with and without a zone, v4-mapped) and zero endpoints,
// strings needing escapes, unicode and invalid UTF-8, times in other zones,
// at and around second boundaries, going back in time and out of the
// four-digit years, and offsets from the base (rel, dur, time_left) of
// every shape the float formatting has.
func goldenEvents() []Event {
	eps := []Endpoint{
		{},
		netip.MustParseAddrPort("127.0.0.1:80"),
		netip.MustParseAddrPort("0.0.0.0:0"),
		netip.MustParseAddrPort("255.255.255.255:65535"),
		netip.MustParseAddrPort("10.20.3.4:40000"),
		netip.MustParseAddrPort("[::1]:443"),
		netip.MustParseAddrPort("[::]:0"),
		netip.MustParseAddrPort("[fe80::1%lo]:9"),
		netip.MustParseAddrPort("[fe80::1%eth0.100]:65535"),
		netip.MustParseAddrPort("[2001:db8::ff00:42:8329]:8080"),
		netip.MustParseAddrPort("[2001:db8:0:0:1:0:0:1]:1"),
		netip.MustParseAddrPort("[::ffff:192.0.2.128]:53"),
		netip.MustParseAddrPort("[1:2:3:4:5:6:7:8]:12345"),
		netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 0),
		netip.AddrPortFrom(netip.MustParseAddr("::2"), 0),
	}
	strs := []string{
		"", "hello", "ESTABLISHED", `quote " and \ backslash`, "<html> & co",
		"tab\tnew\nline\rcr\bbs\ffeed\x01\x1f\x7f", "ünïcödé 中文 😀", "bad \xff utf8 \xc3", "sep \u2028 \u2029",
		"mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7", strings.Repeat("long narration ", 20),
	}
	datas := [][]byte{nil, {}, []byte("hello"), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte(`\"<>&'`), {0, 1, 0x7f, 0x80, 0xff, '\t'}}
	// Offsets from goldenBase: zero, a nanosecond, microseconds (as
	// rel 0.000007), halves, a value whose Seconds() is not the nearest
	// float (2.625119), many digits, negative ones, and years away.
	offs := []time.Duration{
		0, 1, 9, 10, 999, 1000, 7000, 123456, 999999, 1000000, 1500 * time.Millisecond,
		2625119 * time.Microsecond, 3500119 * time.Microsecond, 123456*time.Second + 1000,
		1234567*time.Second + 123456789, 104 * 24 * time.Hour, -3, -1500 * time.Millisecond,
		-2625119 * time.Microsecond, time.Second - 1, time.Second, time.Second + 1,
		59*time.Second + 999999999, time.Minute, 24*time.Hour - 1, 365 * 24 * time.Hour,
		1<<53 - 1, 1 << 53, 1<<53 + 1, 1<<62 + 12345,
	}
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("NST", -(3*3600 + 1800)), time.FixedZone("odd", 5*3600+45*60+7)}
	r := rand.New(rand.NewPCG(7, 11))
	pick := func(n int) int { return int(r.Uint64() % uint64(n)) }
	var evs []Event
	at := func(i int) time.Time {
		return goldenBase.Add(offs[i%len(offs)]).In(zones[i%len(zones)])
	}
	str := func() string { return strs[pick(len(strs))] }
	ep := func() Endpoint { return eps[pick(len(eps))] }

	// Every endpoint and every offset, in every kind, with the others' fields plain.
	for i := range max(len(eps), len(offs)) {
		e, t := eps[i%len(eps)], at(i)
		evs = append(evs,
			PacketEvent(&Packet{Frame: i + 1, Time: t, Proto: "tcp", Src: e, Dst: eps[(i+1)%len(eps)], Flags: "S.", Seq: 1, Ack: 2, RSeq: 3, RAck: 4, Win: 512}),
			PacketEvent(&Packet{Frame: i + 1, Time: t, Proto: []string{"udp", "icmp", "icmp6", "other"}[i%4], Src: e, Dst: e, Len: i}),
			StateEvent(&StateChange{Time: t, Endpoint: e, Peer: eps[(i+3)%len(eps)], Conn: i, From: StateSynSent, To: StateEstablished, Source: SourceInferred, TimeLeft: offs[i%len(offs)]}),
			CallEvent(&Call{ID: i, Lane: "client", Op: OpConnect, FD: 3, Local: e, Remote: eps[(i+2)%len(eps)], Proto: "tcp", Start: t, End: t.Add(offs[(i+5)%len(offs)]), State: StateEstablished}),
			NoteEvent(&Note{Time: t, Level: "info", Text: "note", Conn: i % 2}),
		)
	}
	// Every string in every string field, every payload, every op.
	ops := []Op{OpSocket, OpBind, OpListen, OpAccept, OpConnect, OpSend, OpRecv, OpSendto, OpRecvfrom, OpShutdown, OpClose, OpSetsockopt}
	for i, s := range strs {
		d := datas[i%len(datas)]
		t := at(i * 7)
		evs = append(evs,
			CallEvent(&Call{ID: i, Lane: s, Op: ops[i%len(ops)], FD: i - 1, Local: ep(), Remote: ep(), Proto: s, Family: s, Type: s, Backlog: i,
				Flags: i, How: s, Option: s, Len: i * 100, Ret: -i, Errno: s, Data: d, Start: t, State: State(s), Line: i, Inferred: s}),
			PacketEvent(&Packet{Frame: i, Time: t, Proto: "tcp", Src: ep(), Dst: ep(), Flags: s, Seq: 1 << 31, Ack: 1<<32 - 1, Win: 65535, Options: s,
				Len: len(d), Payload: d, Conn: i, Info: s, Error: s, Analysis: []string{s}, Calls: []int{i}, By: s}),
			StateEvent(&StateChange{Time: t, Endpoint: ep(), Conn: i, From: State(s), To: State(s), Source: Source(s)}),
			NoteEvent(&Note{Time: t, Level: s, Text: s, Topic: s, Conn: i}),
		)
		for k := range evs[len(evs)-4:] {
			evs[len(evs)-4+k].Explain = s
		}
	}
	for i, op := range ops {
		evs = append(evs, CallEvent(&Call{ID: i, Op: op, Backlog: i, Start: at(i)}))
	}
	// Times around second boundaries and in odd years, including going back.
	times := []time.Time{
		{},
		time.Date(2026, 11, 22, 9, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 22, 10, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 22, 11, 0, 0, 1, time.FixedZone("CET", 3600)), // the same second, another zone
		time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC),
		time.Date(2026, 11, 22, 10, 0, 0, 500, time.UTC), // back a second
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10500, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("ahead", -3600)), // year 10000 in UTC
		time.Date(10000, 1, 1, 0, 30, 0, 0, time.FixedZone("behind", 3600)),  // year 9999 in UTC
		time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("CET", 3600)),
	}
	for i, t := range times {
		evs = append(evs,
			PacketEvent(&Packet{Frame: i, Time: t, Proto: "tcp", Src: eps[1], Dst: eps[4], Flags: "."}),
			CallEvent(&Call{ID: i, Op: OpRecv, Start: t, End: times[(i+1)%len(times)]}),
		)
	}
	// A random mix.
	for i := range 400 {
		t := at(pick(1000))
		if pick(8) == 0 {
			t = times[pick(len(times))]
		}
		var ev Event
		switch i % 4 {
		case 0:
			c := &Call{ID: pick(1000), Lane: str(), Op: ops[pick(len(ops))], FD: pick(20) - 1, Local: ep(), Remote: ep(), Proto: str(),
				Family: str(), Type: str(), Backlog: pick(5), Flags: pick(3), How: str(), Option: str(), Len: pick(5000), Ret: pick(5000) - 1,
				Errno: str(), Data: datas[pick(len(datas))], Start: t, State: State(str()), Line: pick(3), Inferred: str()}
			if pick(2) == 0 {
				c.End = at(pick(1000))
			}
			if pick(2) == 0 {
				c.Bytes = [2]uint32{r.Uint32(), r.Uint32()}
			}
			if pick(2) == 0 {
				c.Frames = []int{pick(100), pick(1 << 30)}
			}
			ev = CallEvent(c)
		case 1:
			p := &Packet{Frame: pick(1 << 20), Time: t, Proto: []string{"tcp", "udp", "icmp", "other"}[pick(4)], Src: ep(), Dst: ep(),
				Flags: str(), Seq: r.Uint32(), Ack: r.Uint32(), RSeq: r.Uint32(), RAck: r.Uint32(), Win: pick(70000), Options: str(),
				Len: pick(70000) - 1, Payload: datas[pick(len(datas))], Conn: pick(10), Info: str(), Error: str(), By: str()}
			if pick(2) == 0 {
				p.Quoted = [2]Endpoint{ep(), ep()}
			}
			switch pick(3) {
			case 0:
				p.Analysis = []string{str(), AnalysisDupAck}
			case 1:
				p.Analysis = []string{}
			}
			if pick(2) == 0 {
				p.Calls = []int{pick(100), -pick(100)}
			}
			ev = PacketEvent(p)
		case 2:
			ev = StateEvent(&StateChange{Time: t, Endpoint: ep(), Peer: ep(), Conn: pick(5), From: State(str()), To: State(str()),
				Source: Source(str()), TimeLeft: offs[pick(len(offs))]})
		case 3:
			ev = NoteEvent(&Note{Time: t, Level: str(), Text: str(), Topic: str(), Conn: pick(3)})
		}
		if pick(2) == 0 {
			ev.Explain = str()
		}
		evs = append(evs, ev)
	}
	return evs
}

// encodeGoldenEvents encodes the golden events with an encoder from
// goldenBase, then, after a blank line's worth of separation, the first
// events again with an encoder that takes its base from the first event.
func encodeGoldenEvents(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	evs := goldenEvents()
	enc := NewEncoder(&buf, goldenBase)
	for i, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	enc = NewEncoder(&buf, time.Time{})
	for i, ev := range evs[len(evs)-60:] {
		if err := enc.Encode(ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncodeMatchesGolden: the encoder writes the golden events byte for
// byte as the golden file has them (written by the encoder of commit
// a552555, before it was made faster; go test -update rewrites it).
func TestEncodeMatchesGolden(t *testing.T) {
	got := encodeGoldenEvents(t)
	if *updateGolden {
		if err := os.WriteFile(encodeGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(encodeGolden)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("line %d differs:\n got  %s\n want %s", i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%d lines, want %d", len(gl), len(wl))
}

// TestGoldenDecodes: the decoder reads back every golden line of the
// first encoder that it can hold (times in four-digit years, both quoted
// endpoints set), and encoding what it read gives the line again wherever
// the event survives the trip: valid UTF-8 (invalid bytes come back as
// U+FFFD) and bare addresses without a port (an ICMP packet's port is not
// written).
func TestGoldenDecodes(t *testing.T) {
	want, err := os.ReadFile(encodeGolden)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(want, []byte("\n"))[:len(goldenEvents())]
	decoded, same := 0, 0
	for n, line := range lines {
		ev, err := NewDecoder(bytes.NewReader(line)).Decode()
		if err != nil {
			if fiveDigitYear.Match(line) || bytes.Contains(line, []byte("invalid AddrPort")) {
				continue
			}
			t.Fatalf("line %d: %v\n%s", n+1, err, line)
		}
		decoded++
		if bytes.Contains(line, []byte(`\ufffd`)) {
			continue
		}
		var buf bytes.Buffer
		enc := NewEncoder(&buf, goldenBase)
		if err := enc.Encode(ev); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		got := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if bytes.Equal(got, line) {
			same++
			continue
		}
		if ev.Packet != nil && !HasPorts(ev.Packet.Proto) {
			continue
		}
		t.Errorf("line %d re-encodes differently:\n got  %s\n want %s", n+1, got, line)
	}
	if decoded < len(lines)*9/10 || same < len(lines)*7/10 {
		t.Fatalf("of %d lines, %d decoded, %d re-encoded the same", len(lines), decoded, same)
	}
}

// fiveDigitYear matches a time RFC 3339 cannot hold.
var fiveDigitYear = regexp.MustCompile(`"(time|end)":"(-|\d{5})`)

// TestEncodeRelIsSub: rel is t.Sub(base) whether or not the times carry
// a monotonic clock reading (a scenario's do, a capture's do not), for
// bases given and taken from the first event, and far from the base.
func TestEncodeRelIsSub(t *testing.T) {
	now := time.Now() // with a monotonic reading
	wall := now.Round(0)
	later := now.Add(time.Second)
	offs := []time.Duration{0, 7000, -7000, 1500 * time.Millisecond, 2625119 * time.Microsecond, 100 * 365 * 24 * time.Hour, 290 * 365 * 24 * time.Hour, -290 * 365 * 24 * time.Hour}
	for _, base := range []time.Time{{}, now, wall} {
		var buf bytes.Buffer
		enc := NewEncoder(&buf, base)
		var evs []Event
		for i, d := range offs {
			at := []time.Time{now.Add(d), wall.Add(d), later.Add(d).Round(0)}[i%3]
			evs = append(evs, PacketEvent(&Packet{Frame: i, Time: at, Proto: "tcp"}), StateEvent(&StateChange{Time: at.Add(d)}))
		}
		evs = append(evs, NoteEvent(&Note{Text: "no time"}), PacketEvent(&Packet{Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}))
		from := base
		for _, ev := range evs {
			if from.IsZero() {
				from = ev.Time()
			}
			if err := enc.Encode(ev); err != nil {
				t.Fatal(err)
			}
			if err := enc.Flush(); err != nil {
				t.Fatal(err)
			}
			want, err := marshalEvent(ev, ev.Time().Sub(from).Seconds())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(buf.String(), "\n"); got != string(want) {
				t.Fatalf("base %v:\n got  %s\n want %s", base, got, want)
			}
			buf.Reset()
		}
	}
}
