package serve

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// pieces splits b into a BufferSlice of at most size bytes a piece, as gRPC
// hands over a message read from HTTP/2 frames.
func pieces(b []byte, size int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(size, len(b))
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return s
}

// bytesRequest is a ModelInferRequest of one raw input of n bytes, each
// byte fill.
func bytesRequest(n int, fill byte) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{
		ModelName:        "m",
		Id:               string([]byte{'r', fill}),
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "BYTES", Shape: []int64{1}}},
		RawInputContents: [][]byte{bytes.Repeat([]byte{fill}, n)},
	}
}

// TestOIPCodecJoinsPieces: a request that arrives in several pieces decodes
// to the message that was sent, whether one piece or many, and what one
// call decoded is not changed by the next one, which reuses the join buffer
// (proto.Unmarshal must have copied the bytes it keeps).
func TestOIPCodecJoinsPieces(t *testing.T) {
	c := oipCodec{}
	if c.Name() != "proto" {
		t.Fatalf("codec name %q, want proto (the content-subtype clients send)", c.Name())
	}
	var kept []*pb.ModelInferRequest
	for i, n := range []int{10, 40_000, 100_000, 30_000, 2 << 20} {
		want := bytesRequest(n, byte('a'+i))
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{len(wire), 16 << 10, 1000} {
			got := &pb.ModelInferRequest{}
			if err := c.Unmarshal(pieces(wire, size), got); err != nil {
				t.Fatalf("%d bytes in pieces of %d: %v", n, size, err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("%d bytes in pieces of %d: decoded message differs from the one sent", n, size)
			}
			kept = append(kept, got)
		}
	}
	for _, k := range kept {
		raw := k.RawInputContents[0]
		if bytes.Count(raw, raw[:1]) != len(raw) || k.Id[1] != raw[0] {
			t.Fatalf("request %q changed after later calls reused the join buffer", k.Id)
		}
	}
	if err := c.Unmarshal(pieces([]byte{0xff, 0xff}, 1), &pb.ModelInferRequest{}); err == nil {
		t.Fatal("a malformed message decoded without an error")
	}
	if err := c.Unmarshal(pieces([]byte{1}, 1), struct{}{}); err == nil {
		t.Fatal("decoding into a non-protobuf value gave no error")
	}
}
