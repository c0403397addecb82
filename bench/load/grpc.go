package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/dcrnn/dcrnn/internal/feature"
	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// grpcSender sends each row set as one Open Inference Protocol ModelInfer
// request: one BYTES tensor [N] per feature field in raw_input_contents (as
// tritonclient sends it), holding the same strings as the JSON rows, over
// c.concurrency connections in turn. It checks that every output has N
// values.
func grpcSender(c config, sets []rowSet) (func() (string, error), func(), error) {
	if c.modelName == "" {
		return nil, nil, errors.New("-protocols grpc needs -model-name (dcrnn serve --name, by default the model file's base name)")
	}
	// Encoded once, as the JSON bodies are, so that the generator spends
	// little of the machine's CPU.
	reqs := make([]preEncoded, len(sets))
	for k, set := range sets {
		r := inferRequest(c.modelName, set)
		if len(r.Inputs) == 0 {
			return nil, nil, fmt.Errorf("%s: no feature field of the schema is a column of %s", c.schema, c.data)
		}
		b, err := proto.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		reqs[k] = preEncoded(b)
	}
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, cc := range conns {
			cc.Close()
		}
	}
	for i := 0; i < c.concurrency; i++ {
		cc, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, cc)
	}
	var next, conn atomic.Uint64
	return func() (string, error) {
		req := reqs[next.Add(1)%uint64(len(reqs))]
		cc := conns[conn.Add(1)%uint64(len(conns))]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp := new(pb.ModelInferResponse)
		if err := cc.Invoke(ctx, pb.GRPCInferenceService_ModelInfer_FullMethodName, req, resp, grpc.ForceCodec(preEncodedCodec{})); err != nil {
			return "", err
		}
		if len(resp.Outputs) == 0 || len(resp.RawOutputContents) != len(resp.Outputs) {
			return "", fmt.Errorf("%d outputs with %d raw contents", len(resp.Outputs), len(resp.RawOutputContents))
		}
		for i, o := range resp.Outputs {
			if len(o.Shape) != 1 || o.Shape[0] != int64(c.items) || len(resp.RawOutputContents[i]) != 4*c.items {
				return "", fmt.Errorf("output %s: shape %v with %d bytes for %d items", o.Name, o.Shape, len(resp.RawOutputContents[i]), c.items)
			}
		}
		return resp.ModelVersion, nil
	}, closeAll, nil
}

// preEncoded is a request already in its wire form.
type preEncoded []byte

// preEncodedCodec sends a preEncoded request as it is and decodes answers
// as protocol buffers.
type preEncodedCodec struct{}

func (preEncodedCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(preEncoded); ok {
		return b, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	return proto.Marshal(m)
}

func (preEncodedCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("cannot decode into %T", v)
	}
	return proto.Unmarshal(data, m)
}

func (preEncodedCodec) Name() string { return "proto" }

// inferRequest is the ModelInfer request of one row set.
func inferRequest(model string, set rowSet) *pb.ModelInferRequest {
	col := map[string]int{}
	for i, name := range set.cols {
		col[name] = i
	}
	r := &pb.ModelInferRequest{ModelName: model}
	for _, f := range set.schema.Fields {
		j, ok := col[f.Name]
		if f.Type == feature.TypeIgnore || !ok {
			continue
		}
		var raw []byte
		for _, row := range set.rows {
			raw = binary.LittleEndian.AppendUint32(raw, uint32(len(row[j])))
			raw = append(raw, row[j]...)
		}
		r.Inputs = append(r.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: f.Name, Datatype: "BYTES", Shape: []int64{int64(len(set.rows))}})
		r.RawInputContents = append(r.RawInputContents, raw)
	}
	return r
}
