"""Inference samples/s of ONNX Runtime on a model written by `dcrnn export`.

Times `InferenceSession.run` on batches of uniform random ids (every input
of the graph must be a categorical field's int64 ids, as in the `dcrnn
bench` workloads exported with `dcrnn export --workload mlp24|dcrnn24`),
the same work `dcrnn bench` times in its inference phase (forward pass and
sigmoid on pre-generated batches, rotated). Prints one JSON object.

Usage (the packages of requirements-test.txt):

    python bench/onnx_ort.py --model mlp24.onnx [--threads 2] [--batch 1024] [--seconds 3]
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=100000)
    a = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    inputs = sess.get_inputs()
    for i in inputs:
        if i.type != "tensor(int64)" or len(i.shape) != 1:
            raise SystemExit(
                f"{a.model}: input {i.name} is {i.type} {i.shape}; want int64 ids [N]"
            )
    batches = [
        {i.name: rng.integers(0, a.vocab, a.batch, dtype=np.int64) for i in inputs}
        for _ in range(a.batches)
    ]
    for k in range(a.warmup):
        sess.run(None, batches[k % a.batches])
    n = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        sess.run(None, batches[n % a.batches])
        n += 1
        el = time.perf_counter() - t0
        if el >= a.seconds:
            break
    cpu = time.process_time() - c0
    print(
        json.dumps(
            {
                "engine": f"onnxruntime {ort.__version__}",
                "model": a.model,
                "threads": a.threads,
                "batch": a.batch,
                "infer_steps": n,
                "infer_seconds": el,
                "infer_cpu_seconds": cpu,
                "infer_samples_per_second": n * a.batch / el,
            }
        )
    )


if __name__ == "__main__":
    main()
