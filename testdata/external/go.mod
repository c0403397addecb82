module example.com/external

go 1.26.8

require github.com/dcrnn/dcrnn v0.0.0

require (
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.48.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)

replace github.com/dcrnn/dcrnn => ../..
