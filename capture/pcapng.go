package capture

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/trace"
)

// maxComment is the longest comment a pcapng option can hold: its length
// field has 16 bits.
const maxComment = 1<<16 - 1

// PcapngWriter writes frames to a pcapng file with their comments, which
// Wireshark and tshark show as frame.comment.
type PcapngWriter struct {
	w      *pcapgo.NgWriter
	name   string
	ifaces map[int]int // link type → pcapng interface index
}

// NewPcapngWriter writes a section header and one interface (index 0) of
// the given link type to w. Call Flush when done.
func NewPcapngWriter(w io.Writer, linkType int, ifaceName string) (*PcapngWriter, error) {
	ng, err := pcapgo.NewNgWriterInterface(w, ngInterface(linkType, ifaceName), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{
			Hardware:    runtime.GOARCH,
			OS:          runtime.GOOS,
			Application: "sockscope",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("write pcapng header: %w", err)
	}
	return &PcapngWriter{w: ng, name: ifaceName, ifaces: map[int]int{linkType: 0}}, nil
}

func ngInterface(linkType int, name string) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                name,
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkType(linkType),
		SnapLength:          0, // unlimited
		TimestampResolution: 9,
	}
}

// WriteFrame writes one frame, its Comments as packet comments. A frame
// whose link type differs from the writer's gets an interface of its own,
// added on first use, so that no frame is written under a wrong link type.
func (p *PcapngWriter) WriteFrame(f trace.Frame) error {
	for i, c := range f.Comments {
		if len(c) > maxComment {
			return fmt.Errorf("write frame: comment %d is %d bytes, pcapng allows %d", i+1, len(c), maxComment)
		}
	}
	idx, ok := p.ifaces[f.LinkType]
	if !ok {
		var err error
		if idx, err = p.w.AddInterface(ngInterface(f.LinkType, p.name)); err != nil {
			return fmt.Errorf("write pcapng interface for link type %d: %w", f.LinkType, err)
		}
		p.ifaces[f.LinkType] = idx
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      f.Time,
		CaptureLength:  len(f.Data),
		Length:         max(f.WireLen, len(f.Data)),
		InterfaceIndex: idx,
	}
	if err := p.w.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Comments: f.Comments}); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// WriteStats writes an interface statistics block for interface 0: packets
// received and dropped by the capture, as Stats reports them.
func (p *PcapngWriter) WriteStats(received, dropped uint64) error {
	err := p.w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
		LastUpdate:      time.Now(),
		PacketsReceived: received,
		PacketsDropped:  dropped,
	})
	if err != nil {
		return fmt.Errorf("write pcapng statistics: %w", err)
	}
	return nil
}

// Flush writes out buffered data; call it before closing the file.
func (p *PcapngWriter) Flush() error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("flush pcapng: %w", err)
	}
	return nil
}
