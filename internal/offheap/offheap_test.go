package offheap

import (
	"runtime"
	"testing"
	"time"
)

type holder struct{ v []float32 }

// heapAlloc is the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestLargeSliceIsOutsideTheHeapAndZero(t *testing.T) {
	if !mapsHere {
		t.Skip("no anonymous mappings on this system")
	}
	const n = 16 << 20 // 64 MiB of float32
	before, mappedBefore := heapAlloc(), Mapped()
	h := &holder{}
	h.v = Make[float32](h, n)
	if len(h.v) != n || cap(h.v) != n {
		t.Fatalf("len %d cap %d, want %d", len(h.v), cap(h.v), n)
	}
	for i := 0; i < n; i += 4093 {
		if h.v[i] != 0 {
			t.Fatalf("element %d is %g, want 0", i, h.v[i])
		}
		h.v[i] = float32(i)
	}
	if got := Mapped() - mappedBefore; got != 4*n {
		t.Fatalf("Mapped grew by %d, want %d", got, 4*n)
	}
	if grew := int64(heapAlloc()) - int64(before); grew > 8<<20 {
		t.Fatalf("the heap grew by %d bytes for an off-heap slice of %d", grew, 4*n)
	}
	if h.v[4093] != 4093 {
		t.Fatalf("written value lost: %g", h.v[4093])
	}
	runtime.KeepAlive(h)
}

func TestMappingReturnedWithItsOwner(t *testing.T) {
	if !mapsHere {
		t.Skip("no anonymous mappings on this system")
	}
	waitMapped(t, 0) // the other tests' owners are gone
	func() {
		h := &holder{}
		h.v = Make[float32](h, 1<<20)
		h.v[len(h.v)-1] = 1
		if Mapped() != 4<<20 {
			t.Fatalf("Mapped is %d with one 4 MiB slice", Mapped())
		}
	}()
	waitMapped(t, 0)
}

// waitMapped collects until Mapped is want, or fails after 10 s.
func waitMapped(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for Mapped() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Mapped is %d, want %d once the owners died", Mapped(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSmallSliceFromMake(t *testing.T) {
	before := Mapped()
	h := &holder{}
	h.v = Make[float32](h, MinBytes/4-1)
	if len(h.v) != MinBytes/4-1 || Mapped() != before {
		t.Fatalf("len %d, Mapped %d → %d: a slice under MinBytes must come from make", len(h.v), before, Mapped())
	}
	ints := Make[int32](h, 0)
	if ints == nil || len(ints) != 0 {
		t.Fatalf("zero length: %v", ints)
	}
}

func TestBadArgumentsPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"negative":  func() { Make[float32](&holder{}, -1) },
		"nil owner": func() { Make[float32]((*holder)(nil), 10) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
