package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The messages of onnx.proto that an exported model uses, with the field
// numbers of the published definition (onnx/onnx.proto, IR version 8). Each
// type appends its wire encoding to a buffer; optional fields at their zero
// value are left out, as a proto3 encoder does.

// ONNX element types (TensorProto.DataType).
const (
	typeFloat  int32 = 1
	typeInt64  int32 = 7
	typeBool   int32 = 9
	typeDouble int32 = 11
)

// AttributeProto.AttributeType values.
const (
	attrFloat  int32 = 1
	attrInt    int32 = 2
	attrTensor int32 = 4
	attrInts   int32 = 7
)

// irVersion is the IR version written; opsetVersion the default-domain opset.
const (
	irVersion    = 8
	opsetVersion = 17
)

// tensorProto is an initializer: dims, element type and little-endian raw data.
type tensorProto struct {
	name  string
	dims  []int64
	dtype int32
	raw   []byte
}

func (t *tensorProto) append(b []byte) []byte {
	for _, d := range t.dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.dtype))
	b = appendString(b, 8, t.name)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, t.raw)
}

// floatTensor makes a FLOAT tensor of the given shape.
func floatTensor(name string, dims []int64, v []float32) tensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return tensorProto{name: name, dims: dims, dtype: typeFloat, raw: raw}
}

// doubleTensor makes a DOUBLE tensor of the given shape.
func doubleTensor(name string, dims []int64, v []float64) tensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(x))
	}
	return tensorProto{name: name, dims: dims, dtype: typeDouble, raw: raw}
}

// int64Tensor makes an INT64 tensor of the given shape.
func int64Tensor(name string, dims []int64, v []int64) tensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return tensorProto{name: name, dims: dims, dtype: typeInt64, raw: raw}
}

// attribute is an AttributeProto of one of the kinds above.
type attribute struct {
	name string
	typ  int32
	f    float32
	i    int64
	ints []int64
	t    *tensorProto
}

func (a *attribute) append(b []byte) []byte {
	b = appendString(b, 1, a.name)
	switch a.typ {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case attrTensor:
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a.t.append(nil))
	case attrInts:
		for _, v := range a.ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(a.typ))
}

func intAttr(name string, v int64) attribute { return attribute{name: name, typ: attrInt, i: v} }

func floatAttr(name string, v float32) attribute {
	return attribute{name: name, typ: attrFloat, f: v}
}

// nodeProto is one operator application.
type nodeProto struct {
	name, op string
	in, out  []string
	attrs    []attribute
}

func (n *nodeProto) append(b []byte) []byte {
	for _, s := range n.in {
		b = appendString(b, 1, s)
	}
	for _, s := range n.out {
		b = appendString(b, 2, s)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.op)
	for i := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, n.attrs[i].append(nil))
	}
	return b
}

// valueInfo is a graph input or output: a tensor of elem type whose dims are
// fixed sizes (≥ 0) or, for -1, the symbolic batch dimension "N" (the second
// dimension of a multi-valued field's id matrix is "M_<field>").
type valueInfo struct {
	name   string
	elem   int32
	dims   []int64
	params []string // symbolic names, used where dims[i] < 0
	doc    string
}

func (v *valueInfo) append(b []byte) []byte {
	b = appendString(b, 1, v.name)
	var shape []byte
	for i, d := range v.dims {
		var dim []byte
		if d >= 0 {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		} else {
			dim = appendString(dim, 2, v.params[i])
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, uint64(v.elem))
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tensor)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, typ)
	return appendString(b, 3, v.doc)
}

// graphProto is the model's graph.
type graphProto struct {
	name         string
	nodes        []nodeProto
	inits        []tensorProto
	inputs, outs []valueInfo
	doc          string
}

func (g *graphProto) append(b []byte) []byte {
	for i := range g.nodes {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, g.nodes[i].append(nil))
	}
	b = appendString(b, 2, g.name)
	for i := range g.inits {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, g.inits[i].append(nil))
	}
	b = appendString(b, 10, g.doc)
	for i := range g.inputs {
		b = protowire.AppendTag(b, 11, protowire.BytesType)
		b = protowire.AppendBytes(b, g.inputs[i].append(nil))
	}
	for i := range g.outs {
		b = protowire.AppendTag(b, 12, protowire.BytesType)
		b = protowire.AppendBytes(b, g.outs[i].append(nil))
	}
	return b
}

// modelProto is the file: IR version, producer, one opset import (the
// default domain) and the graph, plus string metadata.
type modelProto struct {
	producer, version, doc string
	graph                  graphProto
	meta                   [][2]string
}

func (m *modelProto) append(b []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, irVersion)
	b = appendString(b, 2, m.producer)
	b = appendString(b, 3, m.version)
	b = appendString(b, 6, m.doc)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, m.graph.append(nil))
	var opset []byte
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, opsetVersion)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, opset)
	for _, kv := range m.meta {
		var e []byte
		e = appendString(e, 1, kv[0])
		e = appendString(e, 2, kv[1])
		b = protowire.AppendTag(b, 14, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}

// appendString appends a string field, nothing when s is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
