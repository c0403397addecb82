package serve

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// The Open Inference Protocol's gRPC service, inference.GRPCInferenceService
// (ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
// ModelInfer), on its own listener (ServeGRPC). Inputs come as
// raw_input_contents (what tritonclient sends) or typed contents; outputs go
// back as raw_output_contents, little-endian float32, as Triton answers.
// The limits are those of the HTTP listener: MaxBodyBytes bounds a message,
// MaxConnections the connections, MaxInFlight the ModelInfer calls being
// scored, MaxRows the rows. A gRPC message is read whole into memory before
// any handler sees it, so memory is bounded by the calls open at once: at
// most MaxBodyMemory / MaxBodyBytes of them (32 by default) on the whole
// listener, counted from their headers to their end; more are answered
// UNAVAILABLE at once, as over-limit HTTP requests get 503. A call, reading
// its message included, must end within ReadTimeout + WriteTimeout, so a
// slow client cannot hold a slot. Metrics and logs are the server's, with
// the handler label grpc_<Method>.

// maxGRPCStreams bounds the calls open at once on one gRPC connection.
const maxGRPCStreams = 64

// grpcCalls is the most calls open at once on the gRPC listener.
func (o *Options) grpcCalls() int {
	return int(max(1, min(int64(o.MaxInFlight), o.MaxBodyMemory/max(1, o.MaxBodyBytes))))
}

type oipGRPC struct {
	pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// ServeGRPC serves the Open Inference Protocol's gRPC service on ln until ctx
// is cancelled, then stops gracefully (calls in flight finish, up to
// DrainTimeout). It returns nil after a clean drain.
func (s *Server) ServeGRPC(ctx context.Context, ln net.Listener) error {
	var open atomic.Int64
	ln = newGRPCLimitListener(ln, s.opt.MaxConnections, func() { s.m.rejected.WithLabelValues("connections").Inc() }, &open)
	srv := s.newGRPCServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving the Open Inference Protocol over gRPC", "addr", ln.Addr().String(), "model", s.oipModel().name, "version", s.oipModel().version,
		"max_message_bytes", s.opt.MaxBodyBytes, "max_connections", s.opt.MaxConnections, "max_inflight", s.opt.MaxInFlight)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: grpc: %w", err)
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
		<-errc
		return nil
	case <-time.After(s.opt.DrainTimeout):
		srv.Stop()
		<-errc
		return fmt.Errorf("serve: grpc: drain: calls still running after %s", s.opt.DrainTimeout)
	}
}

func (s *Server) newGRPCServer() *grpc.Server {
	msg := int(min(s.opt.MaxBodyBytes, math.MaxInt32))
	calls := make(chan struct{}, s.opt.grpcCalls())
	callTimeout := s.opt.ReadTimeout + s.opt.WriteTimeout
	// admit runs on a call's headers, before its message is read. The slot
	// is freed once: when the handler returns (grpcIntercept; the request's
	// message is no longer held, so a client that sends its next call on
	// receiving an answer finds the slot free), or when the stream's context
	// ends without a handler (reset, connection lost, a message too large).
	admit := func(ctx context.Context, _ *tap.Info) (context.Context, error) {
		select {
		case calls <- struct{}{}:
		default:
			s.m.rejected.WithLabelValues("grpc_calls").Inc()
			return nil, status.Errorf(codes.Unavailable, "%d gRPC calls are open, the limit (--max-body-memory / --max-body-bytes); retry shortly", cap(calls))
		}
		tctx, cancel := context.WithTimeout(ctx, callTimeout)
		release := sync.OnceFunc(func() { <-calls })
		context.AfterFunc(ctx, func() {
			cancel()
			release()
		})
		return context.WithValue(tctx, releaseKey{}, release), nil
	}
	srv := grpc.NewServer(
		grpc.InTapHandle(admit),
		grpc.MaxRecvMsgSize(msg),
		grpc.MaxSendMsgSize(max(msg, 64<<20)),
		grpc.MaxConcurrentStreams(maxGRPCStreams),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.ConnectionTimeout(s.opt.ReadTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.opt.IdleTimeout, Time: s.opt.IdleTimeout, Timeout: s.opt.ReadTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(s.grpcIntercept),
		grpc.ForceServerCodecV2(oipCodec{}),
	)
	pb.RegisterGRPCInferenceServiceServer(srv, &oipGRPC{s: s})
	return srv
}

// oipCodec is gRPC's protobuf codec with one change: a request that
// arrived in several pieces (HTTP/2 frames of at most 16 KiB) is joined in a
// buffer of this package's pool, sized to the message, instead of one from
// gRPC's default pool. That pool has tiers of 256 B, 4, 16 and 32 KiB and
// 1 MiB and clears a buffer's whole capacity on every Get, so every
// 100-row Census request (≈38 KB) cleared 1 MiB: ≈90 µs, 7% of the CPU of a
// ModelInfer call over loopback (BenchmarkLoopbackModelInferCensus100). The
// join overwrites every byte it hands to proto.Unmarshal, which copies what
// it keeps, so the buffer needs no clearing. Answers are marshalled as gRPC
// does.
type oipCodec struct{}

var (
	protoCodec = encoding.GetCodecV2("proto")
	joinBufs   = sync.Pool{New: func() any { return new([]byte) }}
)

// maxPooledJoin is the largest joined message whose buffer goes back to the
// pool; a larger one is left to the collector, so a few big requests do not
// pin their size in memory.
const maxPooledJoin = 1 << 20

func (oipCodec) Name() string { return "proto" }

func (oipCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (oipCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("grpc: message is %T, want a protobuf message", v)
	}
	if len(data) <= 1 {
		return protoCodec.Unmarshal(data, v)
	}
	n := data.Len()
	bp := joinBufs.Get().(*[]byte)
	if n <= maxPooledJoin {
		defer joinBufs.Put(bp)
	}
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	data.CopyTo(buf)
	return proto.Unmarshal(buf, m)
}

// releaseKey holds, in a call's context, the func that frees its admission
// slot (newGRPCServer's admit).
type releaseKey struct{}

// grpcIntercept adds the in-flight bound, metrics, sampled logs and a recover
// to every call, and frees the call's admission slot when it returns.
func (s *Server) grpcIntercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	if release, ok := ctx.Value(releaseKey{}).(func()); ok {
		defer release()
	}
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	name := "grpc_" + method
	start := time.Now()
	li := &logInfo{}
	ctx = context.WithValue(ctx, logKey{}, li)
	defer func() {
		if p := recover(); p != nil {
			s.m.panics.Inc()
			s.log.Error("panic in handler", "handler", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error (logged); the request was not scored")
			li.err = fmt.Sprint(p)
		}
		code := status.Code(err)
		d := time.Since(start)
		s.m.latency.WithLabelValues(name).Observe(d.Seconds())
		s.m.requests.WithLabelValues(name, code.String()).Inc()
		n := s.nlog.Add(1)
		if code == codes.Internal || (s.opt.LogSample > 0 && n%uint64(s.opt.LogSample) == 0) {
			lvl := slog.LevelInfo
			if code == codes.Internal {
				lvl = slog.LevelError
			}
			s.log.Log(ctx, lvl, "grpc request", "method", method, "code", code.String(), "ms", float64(d.Microseconds())/1000, "rows", li.rows, "err", li.err)
		}
	}()
	if method == "ModelInfer" {
		if !s.enterInFlight() {
			li.err = "too many requests in flight"
			return nil, status.Errorf(codes.Unavailable, "%d requests are in flight, the limit (--max-inflight); retry shortly", cap(s.inflight))
		}
		defer s.leaveInFlight()
	}
	return h(ctx, req)
}

// grpcStatus maps a refused request's HTTP status to a gRPC code.
func grpcStatus(e *oipError) error {
	c := codes.InvalidArgument
	switch e.status {
	case http.StatusNotFound:
		c = codes.NotFound
	case http.StatusRequestEntityTooLarge:
		c = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		c = codes.Unavailable
	case http.StatusInternalServerError:
		c = codes.Internal
	}
	return status.Error(c, e.msg)
}

func (g *oipGRPC) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (g *oipGRPC) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: g.s.oipReady()}, nil
}

func (g *oipGRPC) ModelReady(_ context.Context, r *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if _, err := g.s.oip.model(r.GetName(), r.GetVersion()); err != nil {
		return nil, grpcStatus(err)
	}
	return &pb.ModelReadyResponse{Ready: g.s.oipReady()}, nil
}

func (g *oipGRPC) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: "dcrnn", Version: serverVersion(), Extensions: oipExtensions}, nil
}

func (g *oipGRPC) ModelMetadata(_ context.Context, r *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	m, err := g.s.oip.model(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, grpcStatus(err)
	}
	md := m.metadata()
	resp := &pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		resp.Inputs = append(resp.Inputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		resp.Outputs = append(resp.Outputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return resp, nil
}

func (g *oipGRPC) ModelInfer(ctx context.Context, r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	// One slice for the tensors: appending ~40 of them one by one copied
	// 33 KB a request.
	req := &oipRequest{model: r.GetModelName(), version: r.GetModelVersion(), id: r.GetId(), inputs: make([]oipTensor, 0, len(r.GetInputs()))}
	raw := r.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(r.GetInputs()) {
		return nil, status.Errorf(codes.InvalidArgument, "%d raw_input_contents for %d inputs (give one per input, or none)", len(raw), len(r.GetInputs()))
	}
	for i, in := range r.GetInputs() {
		t := oipTensor{name: in.GetName(), datatype: in.GetDatatype(), shape: in.GetShape()}
		c := in.GetContents()
		if len(raw) > 0 {
			if c != nil && (len(c.BytesContents)+len(c.Fp32Contents)+len(c.Fp64Contents)+len(c.Int64Contents)+len(c.IntContents)+len(c.BoolContents)+len(c.UintContents)+len(c.Uint64Contents)) > 0 {
				return nil, status.Errorf(codes.InvalidArgument, "input %q has contents while raw_input_contents is used", t.name)
			}
			t.raw, t.hasRaw = raw[i], true
		} else if c != nil {
			if len(c.BoolContents)+len(c.UintContents)+len(c.Uint64Contents) > 0 {
				return nil, status.Errorf(codes.InvalidArgument, "input %q: bool and unsigned contents are not supported (use BYTES, FP32, FP64, INT32 or INT64)", t.name)
			}
			t.bytes, t.fp32, t.fp64, t.int64s, t.int32s = c.BytesContents, c.Fp32Contents, c.Fp64Contents, c.Int64Contents, c.IntContents
		}
		req.inputs = append(req.inputs, t)
	}
	if outs := r.GetOutputs(); len(outs) > 0 {
		for _, o := range outs {
			req.outputs = append(req.outputs, o.GetName())
		}
	}
	res, err := g.s.oip.infer(ctx, req)
	if err != nil {
		logOfCtx(ctx).err = err.msg
		return nil, grpcStatus(err)
	}
	logOfCtx(ctx).rows = res.n
	resp := &pb.ModelInferResponse{ModelName: res.model.name, ModelVersion: res.model.version, Id: res.id}
	buf := make([]byte, 4*res.n*len(res.names))
	for i, name := range res.names {
		resp.Outputs = append(resp.Outputs, &pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dtFP32, Shape: []int64{int64(res.n)}})
		b := buf[4*res.n*i : 4*res.n*(i+1) : 4*res.n*(i+1)]
		for j, p := range res.data[i] {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(p))
		}
		resp.RawOutputContents = append(resp.RawOutputContents, b)
	}
	return resp, nil
}

func logOfCtx(ctx context.Context) *logInfo {
	if li, ok := ctx.Value(logKey{}).(*logInfo); ok {
		return li
	}
	return &logInfo{}
}

// newGRPCLimitListener caps the open connections of the gRPC listener with
// the HTTP listener's limitListener; a connection over the cap is closed at
// once (an HTTP/2 client sees it as unavailable and retries).
func newGRPCLimitListener(ln net.Listener, n int, rejected func(), open *atomic.Int64) net.Listener {
	l := newLimitListener(ln, n, rejected, open)
	l.answer = nil
	return l
}
