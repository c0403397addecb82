//go:build unix

package modelfile

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Reading a named pipe used to block forever in open(2) waiting for a
// writer; it is refused at once.
func TestReadRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.dcrnn")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := Read(path); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "named pipe") {
			t.Fatalf("err = %v, want ErrNotRegular naming a named pipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read of a FIFO still blocked after 5 s")
	}
	// The non-blocking open is what protects the window between the
	// check and the open: opening the FIFO directly returns at once too.
	fh, err := openNonBlocking(path)
	if err != nil {
		t.Fatalf("openNonBlocking: %v", err)
	}
	fh.Close()
}
