package serve

import (
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Memory bounds of the server (see Options for the configurable ones).
const (
	// maxHeaderBytes bounds a request's header block.
	maxHeaderBytes = 64 << 10
	// bodyChunk is the smallest body buffer; a buffer grows by doubling as
	// bytes arrive, never to the declared Content-Length up front.
	bodyChunk = 16 << 10
	// maxPooledBody is the largest body buffer kept for reuse; larger ones
	// are dropped after their request so a burst of big bodies is returned
	// to the operating system afterwards.
	maxPooledBody = 1 << 20
	// retryAfter is the Retry-After of a 503 for a limit, in seconds.
	retryAfter = "1"
	// maxRejecting bounds the goroutines answering connections over the limit.
	maxRejecting = 64
)

// overloaded answers 503 with Retry-After for a limit that is reached.
func overloaded(w http.ResponseWriter, format string, a ...any) {
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, reqErr(http.StatusServiceUnavailable, CodeOverloaded, "", -1, format, a...))
}

// limitInFlight lets at most MaxInFlight requests through h at once; the
// others get 503 + Retry-After at once instead of queueing.
func (s *Server) limitInFlight(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.enterInFlight() {
			logOf(r).err = "too many requests in flight"
			overloaded(w, "%d requests are in flight, the limit (--max-inflight); retry shortly", cap(s.inflight))
			return
		}
		defer s.leaveInFlight()
		h(w, r)
	}
}

// enterInFlight takes a slot of MaxInFlight, or counts a rejection.
func (s *Server) enterInFlight() bool {
	select {
	case s.inflight <- struct{}{}:
		return true
	default:
		s.m.rejected.WithLabelValues("inflight").Inc()
		return false
	}
}

func (s *Server) leaveInFlight() { <-s.inflight }

// bodyBudget counts the bytes of request body buffers in use, against
// MaxBodyMemory.
type bodyBudget struct {
	used  atomic.Int64
	limit int64
}

func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// errBodyBudget: the body-memory budget is spent.
type errBodyBudget struct{}

func (errBodyBudget) Error() string {
	return "request bodies in memory are at the limit (--max-body-memory)"
}

// readBody appends the body to st.body, growing the buffer by doubling only
// as bytes arrive (never to a declared length up front), each growth taken
// from the body-memory budget; st.reserved records what it holds.
func (s *Server) readBody(st *reqState, r io.Reader, limit int64) error {
	buf := st.body[:0]
	if cap(buf) < bodyChunk {
		buf = make([]byte, 0, bodyChunk)
	}
	if !s.budget.take(int64(cap(buf))) {
		st.body = buf
		return errBodyBudget{}
	}
	st.reserved = int64(cap(buf))
	for {
		if len(buf) == cap(buf) {
			grow := min(int64(cap(buf)), limit+1-int64(cap(buf)))
			if grow <= 0 {
				grow = 1 // limit reached: one more byte lets MaxBytesReader report it
			}
			if !s.budget.take(grow) {
				st.body = buf
				return errBodyBudget{}
			}
			st.reserved += grow
			nb := make([]byte, len(buf), cap(buf)+int(grow))
			copy(nb, buf)
			buf = nb
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			st.body = buf
			return nil
		}
		if err != nil {
			st.body = buf
			return err
		}
	}
}

// releaseBody returns st's budget and drops a buffer too big to keep.
func (s *Server) releaseBody(st *reqState) {
	s.budget.give(st.reserved)
	st.reserved = 0
	if cap(st.body) > maxPooledBody {
		st.body = nil
		s.bigFreed.Store(time.Now().UnixNano())
	}
	if cap(st.out) > maxPooledBody {
		st.out = nil
		s.bigFreed.Store(time.Now().UnixNano())
	}
}

// trimMemory returns the memory of dropped big buffers to the operating
// system once no big buffer was dropped for a second, so the resident size
// after a burst of large requests falls back near its idle level instead of
// waiting for the runtime's background scavenger.
func (s *Server) trimMemory(stop <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			last := s.bigFreed.Load()
			if last != 0 && time.Since(time.Unix(0, last)) > time.Second && s.bigFreed.CompareAndSwap(last, 0) {
				debug.FreeOSMemory()
			}
		}
	}
}

// limitListener caps the open connections of a listener. A connection over
// the cap is answered by answer (for HTTP: a 503 + Retry-After, see
// rejectConn) and closed, by at most maxRejecting goroutines; beyond those,
// or when answer is nil, it is closed at once.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	rejecting chan struct{}
	rejected  func()
	answer    func(c net.Conn, limit int)
	open      *atomic.Int64
}

func newLimitListener(ln net.Listener, n int, rejected func(), open *atomic.Int64) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), rejecting: make(chan struct{}, maxRejecting), rejected: rejected,
		answer: rejectConn, open: open}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			l.open.Add(1)
			return &limitConn{Conn: c, l: l}, nil
		default:
		}
		l.rejected()
		if l.answer == nil {
			c.Close()
			continue
		}
		select {
		case l.rejecting <- struct{}{}:
			go func() {
				defer func() { <-l.rejecting }()
				l.answer(c, cap(l.sem))
			}()
		default:
			c.Close()
		}
	}
}

// rejectConn writes a complete 503 response on a connection over the cap,
// reads a little of what the client sent (so closing does not reset the
// connection before the client reads the answer) and closes it.
func rejectConn(c net.Conn, limit int) {
	defer c.Close()
	body := `{"error":{"code":"` + CodeOverloaded + `","message":"` + strconv.Itoa(limit) + ` connections are open, the limit (--max-connections); retry shortly"}}` + "\n"
	c.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "+retryAfter+
		"\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	var sink [4096]byte
	for n := 0; n < 1<<20; {
		m, err := c.Read(sink[:])
		n += m
		if err != nil {
			return
		}
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		<-c.l.sem
	})
	return err
}
