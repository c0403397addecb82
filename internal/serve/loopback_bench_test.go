package serve

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// loopbackClients is the number of concurrent clients of the loopback
// benchmarks, bench/load's default -concurrency.
const loopbackClients = 4

// BenchmarkLoopbackPredictCensus100 is BenchmarkPredictCensus100 through
// the real HTTP server on a loopback port, loopbackClients clients at once,
// client and server in this process: it adds the transport's cost, which
// the handler benchmarks leave out.
func BenchmarkLoopbackPredictCensus100(b *testing.B) {
	srv, bodies := censusServer(b)
	url := "http://" + listenLoopback(b, srv.Serve) + "/v1/predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loopbackClients}}
	loopback(b, func(i int) error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
		return err
	})
}

// BenchmarkLoopbackModelInferCensus100 is BenchmarkModelInferCensus100
// through the real gRPC server on a loopback port, as
// BenchmarkLoopbackPredictCensus100: one connection per client. The JSON
// bodies are sent as they are, while the gRPC client marshals each request
// on every call (as tritonclient does), so this side also counts the
// client's proto.Marshal of the ~30 KB request.
func BenchmarkLoopbackModelInferCensus100(b *testing.B) {
	srv, bodies := censusServer(b)
	reqs := censusInferRequests(b, srv, bodies)
	msgs := make([]*pb.ModelInferRequest, len(reqs))
	for i, w := range reqs {
		msgs[i] = new(pb.ModelInferRequest)
		if err := proto.Unmarshal(w, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	addr := listenLoopback(b, srv.ServeGRPC)
	var clients []pb.GRPCInferenceServiceClient
	for range loopbackClients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		clients = append(clients, pb.NewGRPCInferenceServiceClient(conn))
	}
	loopback(b, func(i int) error {
		resp, err := clients[i%len(clients)].ModelInfer(context.Background(), msgs[i%len(msgs)])
		if err == nil && len(resp.RawOutputContents) == 0 {
			b.Error("no outputs")
		}
		return err
	})
}

// listenLoopback runs serve on a loopback port until the benchmark ends and
// returns the port's address.
func listenLoopback(b *testing.B, serve func(context.Context, net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// loopback runs b.N calls of send on loopbackClients goroutines and reports
// rows/s and the process's CPU per call (client and server together).
func loopback(b *testing.B, send func(i int) error) {
	for i := range 8 { // connections open, code warm
		if err := send(i); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	stop := reportCPU(b)
	calls := make(chan int)
	errc := make(chan error, loopbackClients)
	for range loopbackClients {
		go func() {
			var err error
			for i := range calls {
				if err == nil {
					err = send(i)
				}
			}
			errc <- err
		}()
	}
	start := time.Now()
	for i := range b.N {
		calls <- i
	}
	close(calls)
	for range loopbackClients {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "rows/s")
	stop()
}
