// Package offheap allocates large, long-lived, pointer-free slices outside
// the Go heap.
//
// Go's collector sets its next heap goal to about twice the live heap
// (GOGC=100). A training run's largest live objects are its optimizer
// moments and its best-weights snapshot: two and one copies of every
// embedding table, which live from the first step to the last and hold no
// pointers. On the heap they double the process's resident memory a second
// time: a 22.7M-id vocabulary's 5.8 GB of tables and state reached a 14 GB
// peak (10.4 GB with them here). Allocated here they cost their own size,
// and the collector's goal follows the rest of the heap only, so peak memory
// stays proportional to what a run streams, not to its tables.
//
// Mappings are not part of the Go heap, so a memory limit set with
// GOMEMLIMIT (runtime/debug.SetMemoryLimit) does not count them: a limit
// meant for the whole process must leave room for the optimizer's state
// (with sparse Adam, 12 bytes per embedding parameter for the two moments
// and the snapshot, plus 4 per row for its step count).
//
// On Unix a slice of at least MinBytes is an anonymous private mapping:
// zero pages, resident only once written (a table row that is never
// trained costs nothing), returned to the system when its owner becomes
// unreachable. Smaller slices, and every slice on other systems, come from
// make, with the same contract.
//
// The contract: the slice is valid as long as the owner passed to Make is
// reachable. Keep the slice only in the owner (or in values the owner
// outlives); never keep it beyond the owner.
package offheap
