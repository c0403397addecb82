package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// oipTestRows are the test rows as maps (the reference, scored offline) and as
// the columns the tensors carry. price is sent as BYTES so that a missing
// value ("") can be given; the map says nil there.
var oipTestRows = []map[string]any{
	{"user_id": "u1", "item_id": "i2", "tags": "a|b", "price": "12.5", "age": 33.0},
	{"user_id": "u3", "item_id": "i9", "tags": "c|d", "price": "80.25", "age": 17.0},
	{"user_id": "never-seen", "item_id": "i1", "tags": "", "price": nil, "age": 25.0},
	{"user_id": "5", "item_id": "i4", "tags": "a", "price": "0", "age": 70.5},
	{"user_id": "", "item_id": "", "tags": "", "price": nil, "age": 40.0},
	{"user_id": "u19", "item_id": "i29", "tags": "b", "price": "99.9", "age": 49.0},
}

var (
	colUser  = []string{"u1", "u3", "never-seen", "5", "", "u19"}
	colItem  = []string{"i2", "i9", "i1", "i4", "", "i29"}
	colTags  = []string{"a|b", "c|d", "", "a", "", "b"}
	colPrice = []string{"12.5", "80.25", "", "0", "", "99.9"}
	colAge   = []float64{33, 17, 25, 70.5, 40, 49}
)

// testInput is an input tensor of a JSON infer request.
func testInput(name, dt string, data any, n int) map[string]any {
	return map[string]any{"name": name, "datatype": dt, "shape": []int{n}, "data": data}
}

func restInputs() []map[string]any {
	n := len(colUser)
	return []map[string]any{
		testInput("user_id", "BYTES", colUser, n), testInput("item_id", "BYTES", colItem, n),
		testInput("tags", "BYTES", colTags, n), testInput("price", "BYTES", colPrice, n),
		testInput("age", "FP64", colAge, n),
	}
}

type restOutput struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int           `json:"shape"`
	Data       []float64       `json:"data"`
	Parameters map[string]int  `json:"parameters"`
	Raw        json.RawMessage `json:"-"`
}

type restResponse struct {
	ModelName    string       `json:"model_name"`
	ModelVersion string       `json:"model_version"`
	ID           string       `json:"id"`
	Outputs      []restOutput `json:"outputs"`
	Error        string       `json:"error"`
}

func postV2(t *testing.T, url string, body any) (int, restResponse) {
	t.Helper()
	code, b := post(t, url, mustJSON(t, body))
	var r restResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", code, err, b)
	}
	return code, r
}

// checkOutputs compares named outputs with the offline reference (columns
// click, conversion, ctcvr).
func checkOutputs(t *testing.T, names []string, data [][]float32, want [][]float32) {
	t.Helper()
	col := map[string]int{"click": 0, "conversion": 1, "ctcvr": 2}
	for o, name := range names {
		k, ok := col[name]
		if !ok {
			t.Fatalf("unexpected output %q", name)
		}
		if len(data[o]) != len(want) {
			t.Fatalf("output %s has %d values, want %d", name, len(data[o]), len(want))
		}
		for i := range want {
			if data[o][i] != want[i][k] {
				t.Errorf("row %d %s = %v, offline %v", i, name, data[o][i], want[i][k])
			}
		}
	}
}

func TestOIPRESTMatchesOffline(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	want := offline(t, f.trA, oipTestRows)
	version := f.trA.Checksum
	if i := strings.IndexByte(version, ':'); i >= 0 {
		version = version[i+1:]
	}
	version = version[:12]

	t.Run("json", func(t *testing.T) {
		code, r := postV2(t, ts.url+"/v2/models/a/infer", map[string]any{"id": "req-7", "inputs": restInputs(), "parameters": map[string]any{"priority": 3}})
		if code != 200 {
			t.Fatalf("status %d: %s", code, r.Error)
		}
		if r.ModelName != "a" || r.ModelVersion != version || r.ID != "req-7" {
			t.Fatalf("model %q version %q id %q, want a %s req-7", r.ModelName, r.ModelVersion, r.ID, version)
		}
		var names []string
		var data [][]float32
		for _, o := range r.Outputs {
			if o.Datatype != "FP32" || len(o.Shape) != 1 || o.Shape[0] != len(want) {
				t.Fatalf("output %s: %s %v", o.Name, o.Datatype, o.Shape)
			}
			names = append(names, o.Name)
			var col []float32
			for _, v := range o.Data {
				col = append(col, float32(v))
			}
			data = append(data, col)
		}
		if strings.Join(names, ",") != "click,conversion,ctcvr" {
			t.Fatalf("outputs %v, want click, conversion, ctcvr", names)
		}
		checkOutputs(t, names, data, want)
	})

	t.Run("versioned subset", func(t *testing.T) {
		code, r := postV2(t, ts.url+"/v2/models/a/versions/"+version+"/infer", map[string]any{
			"inputs": restInputs(), "outputs": []map[string]any{{"name": "ctcvr"}}})
		if code != 200 || len(r.Outputs) != 1 || r.Outputs[0].Name != "ctcvr" {
			t.Fatalf("status %d, outputs %+v (%s)", code, r.Outputs, r.Error)
		}
		data := make([]float32, len(r.Outputs[0].Data))
		for i, v := range r.Outputs[0].Data {
			data[i] = float32(v)
		}
		checkOutputs(t, []string{"ctcvr"}, [][]float32{data}, want)
	})

	t.Run("binary tensor data", func(t *testing.T) {
		// The protocol's binary extension, as tritonclient sends it: the
		// JSON header, then each input's raw bytes; BYTES elements are a
		// 4-byte little-endian length and the bytes.
		var bin bytes.Buffer
		var inputs []map[string]any
		for _, c := range []struct {
			name string
			col  []string
		}{{"user_id", colUser}, {"item_id", colItem}, {"tags", colTags}, {"price", colPrice}} {
			start := bin.Len()
			for _, v := range c.col {
				binary.Write(&bin, binary.LittleEndian, uint32(len(v)))
				bin.WriteString(v)
			}
			inputs = append(inputs, map[string]any{"name": c.name, "datatype": "BYTES", "shape": []int{len(c.col), 1},
				"parameters": map[string]any{"binary_data_size": bin.Len() - start}})
		}
		for _, v := range colAge {
			binary.Write(&bin, binary.LittleEndian, float32(v))
		}
		inputs = append(inputs, map[string]any{"name": "age", "datatype": "FP32", "shape": []int{len(colAge)},
			"parameters": map[string]any{"binary_data_size": 4 * len(colAge)}})
		hdr := mustJSON(t, map[string]any{"inputs": inputs, "parameters": map[string]any{"binary_data_output": true}})
		req, _ := http.NewRequest("POST", ts.url+"/v2/models/a/infer", bytes.NewReader(append(hdr, bin.Bytes()...)))
		req.Header.Set(inferHeaderLength, strconv.Itoa(len(hdr)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		hl, err := strconv.Atoi(resp.Header.Get(inferHeaderLength))
		if err != nil || hl > len(body) {
			t.Fatalf("%s = %q for a %d-byte body", inferHeaderLength, resp.Header.Get(inferHeaderLength), len(body))
		}
		var r restResponse
		if err := json.Unmarshal(body[:hl], &r); err != nil {
			t.Fatal(err)
		}
		rest := body[hl:]
		var names []string
		var data [][]float32
		for _, o := range r.Outputs {
			size := o.Parameters["binary_data_size"]
			if size != 4*len(want) || len(o.Data) != 0 {
				t.Fatalf("output %s: binary_data_size %d, %d JSON values", o.Name, size, len(o.Data))
			}
			col := make([]float32, len(want))
			for i := range col {
				col[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
			}
			rest = rest[size:]
			names = append(names, o.Name)
			data = append(data, col)
		}
		if len(rest) != 0 || len(names) != 3 {
			t.Fatalf("%d outputs, %d bytes left over", len(names), len(rest))
		}
		// age went as FP32: equal to the reference because its values are
		// exact in float32.
		checkOutputs(t, names, data, want)
	})
}

func TestOIPRESTHealthAndMetadata(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{ModelName: "ranker"})
	for _, c := range []struct{ path, want string }{
		{"/v2/health/live", `{"live":true}`},
		{"/v2/health/ready", `{"ready":true}`},
		{"/v2/models/ranker/ready", `{"name":"ranker","ready":true}`},
	} {
		if got := strings.TrimSpace(get(t, ts.url+c.path)); got != c.want {
			t.Errorf("GET %s = %s, want %s", c.path, got, c.want)
		}
	}
	var srv struct {
		Name       string   `json:"name"`
		Extensions []string `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(get(t, ts.url+"/v2")), &srv); err != nil || srv.Name != "dcrnn" || len(srv.Extensions) != 1 || srv.Extensions[0] != "binary_tensor_data" {
		t.Errorf("GET /v2 = %+v (%v)", srv, err)
	}
	var md oipModelMeta
	if err := json.Unmarshal([]byte(get(t, ts.url+"/v2/models/ranker")), &md); err != nil {
		t.Fatal(err)
	}
	var ins, outs []string
	for _, in := range md.Inputs {
		ins = append(ins, in.Name+":"+in.Datatype)
	}
	for _, o := range md.Outputs {
		outs = append(outs, o.Name+":"+o.Datatype)
	}
	if got := strings.Join(ins, " "); got != "user_id:BYTES item_id:BYTES tags:BYTES price:FP64 age:FP64" {
		t.Errorf("inputs %s", got)
	}
	if got := strings.Join(outs, " "); got != "click:FP32 conversion:FP32 ctcvr:FP32" {
		t.Errorf("outputs %s", got)
	}
	if len(md.Versions) != 1 || !strings.Contains(f.trA.Checksum, md.Versions[0]) || len(md.Versions[0]) != 12 {
		t.Errorf("versions %v for checksum %s", md.Versions, f.trA.Checksum)
	}
	resp, err := http.Get(ts.url + "/v2/models/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"error":"unknown model \"a\"`) {
		t.Errorf("GET /v2/models/a: %d %s", resp.StatusCode, b)
	}
}

// oipBadCases are refused requests: the inputs, the HTTP status and gRPC
// code, and a part of the message.
func oipBadCases() []struct {
	name    string
	model   string
	version string
	inputs  func() []map[string]any
	outputs []string
	status  int
	code    codes.Code
	msg     string
} {
	n := len(colUser)
	without := func(drop string) func() []map[string]any {
		return func() []map[string]any {
			var out []map[string]any
			for _, in := range restInputs() {
				if in["name"] != drop {
					out = append(out, in)
				}
			}
			return out
		}
	}
	replace := func(name string, in map[string]any) func() []map[string]any {
		return func() []map[string]any {
			out := without(name)()
			return append(out, in)
		}
	}
	return []struct {
		name    string
		model   string
		version string
		inputs  func() []map[string]any
		outputs []string
		status  int
		code    codes.Code
		msg     string
	}{
		{"unknown model", "nope", "", restInputs, nil, 404, codes.NotFound, `unknown model "nope"`},
		{"bad version", "a", "000000000000", restInputs, nil, 404, codes.NotFound, `no version "000000000000"`},
		{"wrong datatype", "a", "", replace("user_id", testInput("user_id", "FP32", []float64{1, 2, 3, 4, 5, 6}, n)), nil, 400, codes.InvalidArgument, `"user_id" (categorical): datatype FP32`},
		{"unsupported datatype", "a", "", replace("age", testInput("age", "BOOL", []bool{true, true, true, true, true, true}, n)), nil, 400, codes.InvalidArgument, `datatype "BOOL" is not supported`},
		{"shape mismatch", "a", "", replace("age", testInput("age", "FP64", []float64{1, 2, 3}, 3)), nil, 400, codes.InvalidArgument, `input "age" has 3 rows`},
		{"elements not shape", "a", "", replace("age", testInput("age", "FP64", []float64{1, 2, 3}, n)), nil, 400, codes.InvalidArgument, `3 elements for shape [6]`},
		{"shape 2-d", "a", "", replace("age", map[string]any{"name": "age", "datatype": "FP64", "shape": []int{3, 2}, "data": colAge}), nil, 400, codes.InvalidArgument, `shape [3 2] is not [N] or [N, 1]`},
		{"missing field", "a", "", without("tags"), nil, 400, codes.InvalidArgument, `missing input "tags"`},
		{"bad number", "a", "", replace("price", testInput("price", "BYTES", []string{"x", "1", "1", "1", "1", "1"}, n)), nil, 400, codes.InvalidArgument, `price`},
		{"unknown output", "a", "", restInputs, []string{"revenue"}, 400, codes.InvalidArgument, `unknown output "revenue"`},
		{"too many rows", "a", "", func() []map[string]any {
			return []map[string]any{testInput("user_id", "BYTES", make([]string, 11), 11)}
		}, nil, 413, codes.ResourceExhausted, `more than 10`},
	}
}

func TestOIPRESTErrors(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{MaxRows: 10, MaxBodyBytes: 64 << 10})
	for _, c := range oipBadCases() {
		t.Run(c.name, func(t *testing.T) {
			path := "/v2/models/" + c.model
			if c.version != "" {
				path += "/versions/" + c.version
			}
			body := map[string]any{"inputs": c.inputs()}
			if c.outputs != nil {
				var outs []map[string]any
				for _, o := range c.outputs {
					outs = append(outs, map[string]any{"name": o})
				}
				body["outputs"] = outs
			}
			code, r := postV2(t, ts.url+path+"/infer", body)
			if code != c.status || !strings.Contains(r.Error, c.msg) {
				t.Errorf("status %d error %q, want %d with %q", code, r.Error, c.status, c.msg)
			}
		})
	}
	t.Run("body too large", func(t *testing.T) {
		big := strings.Repeat("x", 70<<10)
		code, r := postV2(t, ts.url+"/v2/models/a/infer", map[string]any{"inputs": []map[string]any{testInput("user_id", "BYTES", []string{big}, 1)}})
		if code != 413 || !strings.Contains(r.Error, "--max-body-bytes") {
			t.Errorf("status %d error %q", code, r.Error)
		}
	})
	t.Run("not json", func(t *testing.T) {
		code, b := post(t, ts.url+"/v2/models/a/infer", []byte("{"))
		if code != 400 || !strings.Contains(string(b), `"error":`) {
			t.Errorf("status %d %s", code, b)
		}
	})
	t.Run("binary size beyond body", func(t *testing.T) {
		hdr := mustJSON(t, map[string]any{"inputs": []map[string]any{{"name": "age", "datatype": "FP32", "shape": []int{1}, "parameters": map[string]any{"binary_data_size": 400}}}})
		req, _ := http.NewRequest("POST", ts.url+"/v2/models/a/infer", bytes.NewReader(append(hdr, 0, 0, 0, 0)))
		req.Header.Set(inferHeaderLength, strconv.Itoa(len(hdr)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "binary_data_size") {
			t.Errorf("status %d %s", resp.StatusCode, b)
		}
	})
	t.Run("decoder bounds", func(t *testing.T) {
		for _, c := range []struct {
			body   string
			status int
			msg    string
		}{
			{`{"inputs":[` + strings.Repeat(`{},`, maxRESTInputs) + `{}]}`, 400, "more than 4096 elements"},
			{`{"inputs":[{"name":"age","datatype":"FP64","shape":[1],"data":[` + strings.Repeat("1,", 10) + `1]}]}`, 413, "inputs[0].data: more than 10 values"},
			{`{"inputs":[{"name":"age","datatype":"FP64","shape":[1],"data":[[[1]]]}]}`, 400, "not a list of values"},
			{`{"inputs":[{"name":"age","datatype":"FP64","shape":[1,1,1,1,1,1,1,1,1],"data":[1]}]}`, 400, "more than 8 elements"},
			{`{"inputs":[]} {}`, 400, "data after the JSON object"},
			{`{"inputs":[], "parameters": {"binary_data_output": "yes"}}`, 400, "is not a boolean"},
			{`[1]`, 400, "expected an object"},
		} {
			code, b := post(t, ts.url+"/v2/models/a/infer", []byte(c.body))
			var r restResponse
			json.Unmarshal(b, &r)
			if code != c.status || !strings.Contains(r.Error, c.msg) {
				t.Errorf("%.60s: status %d %s, want %d with %q", c.body, code, b, c.status, c.msg)
			}
		}
	})
	t.Run("unknown parameters skipped", func(t *testing.T) {
		code, r := postV2(t, ts.url+"/v2/models/a/infer", map[string]any{"inputs": restInputs(), "extra": []any{1, map[string]any{"x": nil}},
			"parameters": map[string]any{"deep": map[string]any{"list": []any{1, 2, []any{3}}}}})
		if code != 200 || len(r.Outputs) != 3 {
			t.Errorf("status %d %s", code, r.Error)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		resp, err := http.Get(ts.url + "/v2/models/a/infer")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" || !strings.Contains(string(b), `"error":"use POST`) {
			t.Errorf("status %d %s", resp.StatusCode, b)
		}
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		resp, err := http.Get(ts.url + "/v2/repository/index")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(b), `"error":"no such endpoint`) {
			t.Errorf("status %d %s", resp.StatusCode, b)
		}
	})
}

// startGRPC serves srv's gRPC service on loopback and returns a client.
func startGRPC(t *testing.T, srv *Server) pb.GRPCInferenceServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeGRPC(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeGRPC: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("gRPC server did not stop")
		}
	})
	return pb.NewGRPCInferenceServiceClient(conn)
}

func rawBytes(col []string) []byte {
	var b []byte
	for _, v := range col {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// grpcInputs are the test rows as typed contents (raw false) or as
// raw_input_contents.
func grpcInputs(raw bool) *pb.ModelInferRequest {
	n := int64(len(colUser))
	r := &pb.ModelInferRequest{ModelName: "a"}
	for _, c := range []struct {
		name string
		col  []string
	}{{"user_id", colUser}, {"item_id", colItem}, {"tags", colTags}, {"price", colPrice}} {
		in := &pb.ModelInferRequest_InferInputTensor{Name: c.name, Datatype: "BYTES", Shape: []int64{n}}
		if raw {
			r.RawInputContents = append(r.RawInputContents, rawBytes(c.col))
		} else {
			for _, v := range c.col {
				in.Contents = appendBytes(in.Contents, v)
			}
		}
		r.Inputs = append(r.Inputs, in)
	}
	age := &pb.ModelInferRequest_InferInputTensor{Name: "age", Datatype: "FP64", Shape: []int64{n, 1}}
	if raw {
		var b []byte
		for _, v := range colAge {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		r.RawInputContents = append(r.RawInputContents, b)
	} else {
		age.Contents = &pb.InferTensorContents{Fp64Contents: colAge}
	}
	r.Inputs = append(r.Inputs, age)
	return r
}

func appendBytes(c *pb.InferTensorContents, v string) *pb.InferTensorContents {
	if c == nil {
		c = &pb.InferTensorContents{}
	}
	c.BytesContents = append(c.BytesContents, []byte(v))
	return c
}

func grpcOutputs(t *testing.T, resp *pb.ModelInferResponse) ([]string, [][]float32) {
	t.Helper()
	if len(resp.RawOutputContents) != len(resp.Outputs) {
		t.Fatalf("%d raw outputs for %d outputs", len(resp.RawOutputContents), len(resp.Outputs))
	}
	var names []string
	var data [][]float32
	for i, o := range resp.Outputs {
		raw := resp.RawOutputContents[i]
		if o.Datatype != "FP32" || len(o.Shape) != 1 || int(o.Shape[0])*4 != len(raw) {
			t.Fatalf("output %s: %s %v with %d bytes", o.Name, o.Datatype, o.Shape, len(raw))
		}
		col := make([]float32, o.Shape[0])
		for j := range col {
			col[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		names = append(names, o.Name)
		data = append(data, col)
	}
	return names, data
}

func TestOIPGRPCMatchesOfflineAndReloads(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	c := startGRPC(t, ts.srv)
	ctx := context.Background()
	wantA := offline(t, f.trA, oipTestRows)

	if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Fatalf("ServerLive: %v %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Fatalf("ServerReady: %v %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "a"}); err != nil || !r.Ready {
		t.Fatalf("ModelReady: %v %v", r, err)
	}
	if _, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "b"}); status.Code(err) != codes.NotFound {
		t.Fatalf("ModelReady of an unknown model: %v", err)
	}
	md, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "a"})
	if err != nil || len(md.Inputs) != 5 || len(md.Outputs) != 3 || md.Outputs[2].Name != "ctcvr" || len(md.Versions) != 1 {
		t.Fatalf("ModelMetadata: %v %v", md, err)
	}
	versionA := md.Versions[0]
	if sm, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{}); err != nil || sm.Name != "dcrnn" {
		t.Fatalf("ServerMetadata: %v %v", sm, err)
	}

	for _, raw := range []bool{false, true} {
		t.Run("raw="+strconv.FormatBool(raw), func(t *testing.T) {
			req := grpcInputs(raw)
			req.Id = "x1"
			resp, err := c.ModelInfer(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ModelName != "a" || resp.ModelVersion != versionA || resp.Id != "x1" {
				t.Fatalf("model %q version %q id %q", resp.ModelName, resp.ModelVersion, resp.Id)
			}
			names, data := grpcOutputs(t, resp)
			if strings.Join(names, ",") != "click,conversion,ctcvr" {
				t.Fatalf("outputs %v", names)
			}
			checkOutputs(t, names, data, wantA)
		})
	}

	t.Run("subset", func(t *testing.T) {
		req := grpcInputs(true)
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "conversion"}}
		resp, err := c.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		names, data := grpcOutputs(t, resp)
		if len(names) != 1 || names[0] != "conversion" {
			t.Fatalf("outputs %v", names)
		}
		checkOutputs(t, names, data, wantA)
	})

	t.Run("hot reload", func(t *testing.T) {
		b, err := os.ReadFile(f.pathB)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.pathA, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.srv.Reload(""); err != nil {
			t.Fatal(err)
		}
		resp, err := c.ModelInfer(ctx, grpcInputs(true))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ModelVersion == versionA || !strings.Contains(f.trB.Checksum, resp.ModelVersion) {
			t.Fatalf("version %s after reloading to checksum %s", resp.ModelVersion, f.trB.Checksum)
		}
		names, data := grpcOutputs(t, resp)
		checkOutputs(t, names, data, offline(t, f.trB, oipTestRows))
		if _, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "a", ModelVersion: versionA, Inputs: grpcInputs(true).Inputs, RawInputContents: grpcInputs(true).RawInputContents}); status.Code(err) != codes.NotFound {
			t.Fatalf("the old version after a reload: %v", err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		m := get(t, ts.url+"/metrics")
		if !strings.Contains(m, `dcrnn_serve_requests_total{code="OK",handler="grpc_ModelInfer"}`) {
			t.Errorf("no gRPC ModelInfer counter in /metrics:\n%s", grep(m, "grpc"))
		}
	})
}

// grpcRequestOf turns a JSON bad case into a gRPC request with typed
// contents.
func grpcRequestOf(t *testing.T, model, version string, inputs []map[string]any, outputs []string) *pb.ModelInferRequest {
	t.Helper()
	r := &pb.ModelInferRequest{ModelName: model, ModelVersion: version}
	for _, in := range inputs {
		var shape []int64
		for _, d := range in["shape"].([]int) {
			shape = append(shape, int64(d))
		}
		tin := &pb.ModelInferRequest_InferInputTensor{Name: in["name"].(string), Datatype: in["datatype"].(string), Shape: shape, Contents: &pb.InferTensorContents{}}
		switch data := in["data"].(type) {
		case []string:
			for _, v := range data {
				tin.Contents.BytesContents = append(tin.Contents.BytesContents, []byte(v))
			}
		case []float64:
			if tin.Datatype == "FP32" {
				for _, v := range data {
					tin.Contents.Fp32Contents = append(tin.Contents.Fp32Contents, float32(v))
				}
			} else {
				tin.Contents.Fp64Contents = data
			}
		case []bool:
			tin.Contents.BoolContents = data
		default:
			t.Fatalf("data %T", data)
		}
		r.Inputs = append(r.Inputs, tin)
	}
	for _, o := range outputs {
		r.Outputs = append(r.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o})
	}
	return r
}

func TestOIPGRPCErrors(t *testing.T) {
	f := newFixture(t)
	srv, err := New(f.pathA, Options{MaxRows: 10, MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := startGRPC(t, srv)
	ctx := context.Background()
	for _, bc := range oipBadCases() {
		t.Run(bc.name, func(t *testing.T) {
			_, err := c.ModelInfer(ctx, grpcRequestOf(t, bc.model, bc.version, bc.inputs(), bc.outputs))
			want := bc.code
			if bc.name == "unsupported datatype" {
				want = codes.InvalidArgument // bool contents are refused before the datatype
			}
			if status.Code(err) != want || (bc.name != "unsupported datatype" && !strings.Contains(status.Convert(err).Message(), bc.msg)) {
				t.Errorf("%v, want %s with %q", err, want, bc.msg)
			}
		})
	}
	t.Run("raw count", func(t *testing.T) {
		req := grpcInputs(true)
		req.RawInputContents = req.RawInputContents[:2]
		if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "raw_input_contents") {
			t.Errorf("%v", err)
		}
	})
	t.Run("raw bytes truncated", func(t *testing.T) {
		req := grpcInputs(true)
		req.RawInputContents[0] = req.RawInputContents[0][:5]
		if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "raw BYTES data") {
			t.Errorf("%v", err)
		}
	})
	t.Run("message too large", func(t *testing.T) {
		req := grpcInputs(true)
		req.RawInputContents[0] = rawBytes([]string{strings.Repeat("x", 70<<10), "", "", "", "", ""})
		if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("%v, want ResourceExhausted", err)
		}
	})
}

// TestOIPGRPCCallsBounded holds a call open without sending its message:
// with room for one call, the next is refused at once, and the held one is
// cut at the call timeout, which frees its slot.
func TestOIPGRPCCallsBounded(t *testing.T) {
	f := newFixture(t)
	// 64 KiB of body memory for 64 KiB messages: one call at a time.
	srv, err := New(f.pathA, Options{MaxBodyBytes: 64 << 10, MaxBodyMemory: 64 << 10,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.opt.grpcCalls(); n != 1 {
		t.Fatalf("grpcCalls = %d, want 1", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeGRPC(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	if _, err := c.ModelInfer(context.Background(), grpcInputs(true)); err != nil {
		t.Fatalf("a call alone: %v", err)
	}
	hold, stopHold := context.WithCancel(context.Background())
	defer stopHold()
	stream, err := conn.NewStream(hold, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, pb.GRPCInferenceService_ModelInfer_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- stream.RecvMsg(new(pb.ModelInferResponse)) }() // headers go out; no message follows
	var refused error
	for i := 0; i < 50; i++ { // the held call's headers may still be on their way
		if _, refused = c.ModelInfer(context.Background(), grpcInputs(true)); refused != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if status.Code(refused) != codes.Unavailable || !strings.Contains(refused.Error(), "gRPC calls are open") {
		t.Fatalf("a second call while one is held: %v, want Unavailable", refused)
	}
	select {
	case err := <-held:
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("the held call ended with %v, want DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held call was not cut at the call timeout")
	}
	if _, err := c.ModelInfer(context.Background(), grpcInputs(true)); err != nil {
		t.Fatalf("a call after the held one was cut: %v", err)
	}
}

// FuzzOIPInfer sends arbitrary bodies (a first byte below 0x20 turns into
// the binary header length 4·byte, and is dropped) through the whole /v2 infer path of a strict server, and the same
// bytes as raw BYTES and FP64 data of a ModelInfer request: every answer is
// a 200 or a 4xx with {"error"} (a gRPC error that is not INTERNAL), never a
// panic or a 500.
func FuzzOIPInfer(f *testing.F) {
	fx := newFixture(f)
	srv, err := New(fx.pathA, Options{Strict: true, MaxRows: 20, MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	var seed bytes.Buffer
	json.NewEncoder(&seed).Encode(map[string]any{"inputs": restInputs()})
	f.Add(seed.Bytes())
	f.Add([]byte("\x17" + `{"inputs":[{"name":"age","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}` + "\x00\x00\x80\x3f"))
	f.Add([]byte(`{"inputs":[{"name":"tags","datatype":"BYTES","shape":[1,1],"data":[["a|b"]]}],"outputs":[{"name":"click","parameters":{"binary_data":true}}]}`))
	h := srv.Handler()
	g := &oipGRPC{s: srv}
	f.Fuzz(func(t *testing.T, body []byte) {
		headerLen := -1
		if len(body) > 0 && body[0] < 0x20 {
			headerLen, body = 4*int(body[0]), body[1:]
		}
		req, _ := http.NewRequest("POST", "/v2/models/a/infer", bytes.NewReader(body))
		if headerLen >= 0 {
			req.Header.Set(inferHeaderLength, strconv.Itoa(headerLen))
		}
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.code == 200:
		case rec.code >= 400 && rec.code < 500:
			var e restResponse
			if err := json.Unmarshal(rec.body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without a JSON error (%v): %s", rec.code, err, rec.body.Bytes())
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.code, body, rec.body.Bytes())
		}
		n := int64(headerLen)
		r := grpcInputs(true)
		r.Inputs[0].Shape = []int64{n}
		r.RawInputContents[0] = body
		r.RawInputContents[4] = body
		if _, err := g.ModelInfer(context.Background(), r); status.Code(err) == codes.Internal || status.Code(err) == codes.Unknown {
			t.Fatalf("ModelInfer: %v", err)
		}
	})
}
