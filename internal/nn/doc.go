// Package nn holds the layers of the dcrnn engine, each with an explicit
// forward and backward pass.
//
// Activations are batch-major matrices (Mat: Rows = batch, Cols = width).
// A model writes only its forward pass: every layer call records itself on a
// Tape, and Tape.Backward replays the records in reverse, so no model
// hand-writes a backward pass. Layers own their parameters (Param for dense
// weights, SparseParam for embedding tables whose gradient is kept only for
// the rows a batch touched). Activation buffers come from the tape's arena
// and are reused from step to step: after the first step a forward/backward
// pass allocates nothing.
//
// Backward passes accumulate (+=) into the gradients of their inputs and
// parameters; Tape.Mat returns buffers with zeroed gradients, and the
// optimizer (or ZeroGrad) clears parameter gradients after each step.
//
// Two caches serve inference tapes of a model whose weights no longer
// change: Packs keeps the weights packed for the matrix kernels (the same
// bits as without it), and Folds turns the Linear layers that read the
// embeddings' output into table lookups (the same sum in another order, a
// few ulps apart; see Folds). A model whose embeddings' output only such
// layers read says so with Embeddings.ForwardFor, which then skips writing
// the columns every reader has folded.
package nn
