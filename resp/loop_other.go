//go:build !linux

package resp

import "time"

// On systems other than Linux there is no event loop: every connection is
// served on goroutines (see the package documentation).

type loopConn struct {
	closed    bool
	closeBy   time.Time
	lastWrite time.Time
}

type loop struct{}

func (s *Server) adopt(*Conn) bool { return false }
func (l *loop) post(*Conn)         {}
func (l *loop) flush(*Conn)        {}
func (l *loop) stop()              {}
