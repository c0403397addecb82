package serve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// censusInferRequests turns the 100-row /v1/predict bodies of censusServer
// into marshalled ModelInfer requests: one BYTES tensor per feature field in
// raw_input_contents, holding the same strings.
func censusInferRequests(b *testing.B, srv *Server, bodies [][]byte) [][]byte {
	m := srv.oipModel()
	var out [][]byte
	for _, body := range bodies {
		var req struct {
			Rows []map[string]string `json:"rows"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
		r := &pb.ModelInferRequest{ModelName: m.name}
		for _, f := range m.fields {
			var raw []byte
			for _, row := range req.Rows {
				raw = binary.LittleEndian.AppendUint32(raw, uint32(len(row[f.name])))
				raw = append(raw, row[f.name]...)
			}
			r.Inputs = append(r.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: f.name, Datatype: "BYTES", Shape: []int64{int64(len(req.Rows))}})
			r.RawInputContents = append(r.RawInputContents, raw)
		}
		wire, err := proto.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, wire)
	}
	return out
}

// reportCPU starts counting the process's CPU time; the function it returns
// reports it per op as cpu-ns/op, a figure that other load on a shared
// machine disturbs less than ns/op. Call it after ResetTimer.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64((end-start)/time.Nanosecond)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkModelInferCensus100 is BenchmarkPredictCensus100 for the gRPC
// ModelInfer handler: unmarshal the request, score, marshal the answer
// (the gRPC transport itself is not included, as the HTTP one is not there).
func BenchmarkModelInferCensus100(b *testing.B) {
	srv, bodies := censusServer(b)
	reqs := censusInferRequests(b, srv, bodies)
	g := &oipGRPC{s: srv}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		var r pb.ModelInferRequest
		if err := proto.Unmarshal(reqs[i%len(reqs)], &r); err != nil {
			b.Fatal(err)
		}
		resp, err := g.ModelInfer(ctx, &r)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.RawOutputContents) != 2 || len(resp.RawOutputContents[0]) != 400 {
			b.Fatalf("%d outputs", len(resp.RawOutputContents))
		}
		if _, err := proto.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rows/s")
}
