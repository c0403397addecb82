// Package onnx exports a trained dcrnn model as an ONNX graph, so that ONNX
// Runtime (or any ONNX engine) can score it.
//
// Export writes the model's forward pass on the transformed inputs, then the
// sigmoid, the model file's calibration maps (Platt, isotonic) and the
// negative down-sampling correction, exactly the steps of
// model.Trained.Predict; the feature pipeline that turns raw rows into those
// inputs stays outside the graph and is written beside it by Sidecar (the
// same values `dcrnn predict --inputs-out` writes). Signature lists the
// inputs and outputs:
//
//   - a categorical field f: int64 ids [N], input "f";
//   - a multi-valued field f: int64 ids [N, M] (row i's list in its first
//     lengths[i] columns, the rest any valid id such as 0), input "f", and
//     int64 lengths [N], input "f.lengths"; the embedding is the mean of the
//     listed ids' rows, zeros for an empty list;
//   - a numeric field f: float32 [N], input "f", the value after the
//     pipeline's transform, normalisation and missing fill;
//   - one float32 [N] probability per task, named by the task, and "ctcvr"
//     for a funnel.
//
// The graph is rebuilt from the model's config and its parameters by name
// (the structure each model's doc describes), not from the Go code paths: a
// parameter that is missing or misshapen, or one that the graph leaves out,
// makes Export fail rather than write a wrong graph. Recurrent cells are
// unrolled over their steps. The graph uses opset 17 of the default domain
// (Gather, Gemm, MatMul, Add, Mul, Sub, Div, Relu, Sigmoid, Tanh, Softmax,
// Concat, Split, ReduceSum, Squeeze, Unsqueeze, Shape, Range, Less, Cast,
// Max, Min, Log, Exp, Neg, Sum, Identity), all on ONNX Runtime's CPU provider.
//
// The protobuf messages are encoded here with protowire against the field
// numbers of the published onnx.proto (IR version 8): the Go packages that
// carry generated onnx.proto bindings come inside ONNX runtimes with large
// dependency trees, for the eight messages an exported model needs.
// tests/onnx checks every model with ONNX Runtime against `dcrnn predict`.
package onnx
