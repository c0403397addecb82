// Package inferencepb holds the Go messages and the gRPC service of the Open
// Inference Protocol v2 (package inference, GRPCInferenceService), generated
// from grpc_service.proto: the health, metadata and ModelInfer subset that
// dcrnn serves. Regenerate with go generate after editing the .proto.
package inferencepb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grpc_service.proto
